import KubeModel
import MeshCore
import MeshHTTP
import NIOHTTP1

/// One request as the proxy's pipeline sees it: classified once, and from then on carried as
/// it was judged. What goes upstream is built from this value, never from the client's head.
/// A request the router hands over travels to the async executor with it
/// (`ServerRequest.routed`).
struct ProxyRequest: Sendable {
    let method: HTTPMethod
    /// The request target as the client sent it: parsed by the classify stage, never forwarded.
    let uri: String
    /// The target as it was parsed (`encoded` is what goes upstream).
    var target: RequestTarget
    /// Nil for a non-resource request (discovery, version, health).
    var info: RequestInfo?
    /// The client's headers as sent; the stages read them, none goes upstream unfiltered.
    let received: HTTPHeaders
    /// The headers that may go upstream (hop-by-hop ones are dropped as they leave).
    var headers: HTTPHeaders
    /// Whether a body follows the head (a known length, within the server's limit).
    let hasBody: Bool
    /// A stream of an HTTP/2 connection (which never upgrades).
    let isHTTP2: Bool

    init(head: HTTPRequestHead) {
        method = head.method
        uri = head.uri
        target = RequestTarget(segments: [])
        received = head.headers
        headers = HTTPHeaders()
        isHTTP2 = head.version.major == 2
        hasBody = (head.headers.first(name: "content-length").flatMap(Int.init) ?? 0) > 0
    }

    /// A request no router saw, collected whole.
    init(collected request: ServerRequest) {
        method = request.method
        uri = request.uri
        target = RequestTarget(segments: [])
        received = request.headers
        headers = HTTPHeaders()
        isHTTP2 = request.isHTTP2
        hasBody = request.body.readableBytes > 0
    }
}
