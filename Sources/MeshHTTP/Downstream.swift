import NIOCore
import NIOHTTP1

/// The response side of an inline exchange: writes parts to the client's connection (or
/// HTTP/2 stream) on its event loop, without a task or a promise per write. The exchange
/// watches `isWritable` to pace its upstream reads; a client that takes nothing for the
/// listener's write timeout is dropped.
public final class Downstream {
    let context: ChannelHandlerContext
    /// Whether the client may send another request on this connection (else `Connection: close`).
    let keepAlive: Bool
    let writeTimeout: TimeAmount
    /// Told once, when the response ended or was aborted.
    let finished: () -> Void
    private var headSent = false
    public private(set) var isDone = false
    var stall: Scheduled<Void>?

    init(context: ChannelHandlerContext, keepAlive: Bool, writeTimeout: TimeAmount, finished: @escaping () -> Void) {
        self.context = context
        self.keepAlive = keepAlive
        self.writeTimeout = writeTimeout
        self.finished = finished
    }

    public var eventLoop: any EventLoop { context.eventLoop }
    public var allocator: ByteBufferAllocator { context.channel.allocator }
    public var isWritable: Bool { context.channel.isWritable }

    public func writeHead(status: HTTPResponseStatus, headers: HTTPHeaders) {
        guard !isDone, !headSent else { return }
        headSent = true
        var headers = headers
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
    }

    /// Queues body bytes; `flush` sends what is queued.
    public func writeBody(_ buffer: ByteBuffer) {
        guard !isDone, buffer.readableBytes > 0 else { return }
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
    }

    public func flush() {
        guard !isDone else { return }
        context.flush()
        watchStall()
    }

    /// Ends the response; the connection closes after it when it may not be kept.
    public func end() {
        guard !isDone else { return }
        isDone = true
        stall?.cancel()
        let channel = context.channel
        let close = !keepAlive
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            if close { channel.close(promise: nil) }
        }
        finished()
    }

    /// A complete response with a content length.
    public func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer) {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        writeHead(status: status, headers: headers)
        writeBody(body)
        end()
    }

    /// Ends the response abnormally: the connection closes (HTTP/1.1) or the stream resets
    /// (HTTP/2), so the client sees a failed response rather than a short one.
    public func abort() {
        guard !isDone else { return }
        isDone = true
        stall?.cancel()
        context.close(promise: nil)
        finished()
    }

    /// While the client takes nothing, a timer runs; it closes the connection at the write
    /// timeout, as a blocked `ResponseWriter` write would.
    public func watchStall() {
        if isWritable || isDone {
            stall?.cancel()
            stall = nil
        } else if stall == nil {
            let channel = context.channel
            stall = context.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
        }
    }
}
