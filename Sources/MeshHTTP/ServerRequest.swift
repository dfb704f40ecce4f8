import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP request with its whole body, the same whether it came over HTTP/1.1 or HTTP/2.
public struct ServerRequest: Sendable {
    public var method: HTTPMethod
    /// The request target: path plus query.
    public var uri: String
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// The body exceeded the server's limit and was discarded; answer 413.
    public var bodyTooLarge: Bool
    public var isHTTP2: Bool
    /// The event loop of the connection the request came on: what the responder does on
    /// that request's behalf (its upstream calls) runs there. A request built elsewhere (a
    /// test) gets one of the shared group's loops.
    public var eventLoop: any EventLoop
    /// What an inline router made of the request before it handed it over (for the proxy:
    /// the request classified and judged so far); nil when no router saw it.
    public var routed: (any Sendable)?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(),
                bodyTooLarge: Bool = false, isHTTP2: Bool = false, eventLoop: (any EventLoop)? = nil) {
        self.eventLoop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.isHTTP2 = isHTTP2
    }

    public var path: Substring {
        if let q = uri.firstIndex(of: "?") { return uri[..<q] }
        return uri[...]
    }

    public var rawQuery: Substring {
        if let q = uri.firstIndex(of: "?") { return uri[uri.index(after: q)...] }
        return ""
    }

    public var bodyBytes: [UInt8] { Array(body.readableBytesView) }
}

/// Answers requests. Implementations write through the writer and return when done; a
/// streaming response (a watch) returns when its stream ends or the client goes away.
public protocol HTTPResponder: Sendable {
    func respond(to request: ServerRequest, writer: ResponseWriter) async
}
