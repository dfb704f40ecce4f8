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

/// The stages every request passes, in the order they are declared, before the fence: run
/// once per request, on the event loop by the router, or by the async executor for a request
/// no router saw.
struct RequestPipeline: Sendable {
    let stages: [any RequestStage]

    init(state: ShardState, policies: PolicyFilter, upstream: String) {
        stages = [
            ClassifyStage(),
            HeaderStage(),
            UpgradeStage(),
            MeshControlStage(),
            LeaderLockStage(state: state),
            PolicyStage(policies: policies, upstream: upstream),
        ]
    }

    /// Runs the stages until one answers or hands the request over.
    func run(_ request: inout ProxyRequest) -> StageVerdict {
        for stage in stages {
            let verdict = stage.process(&request)
            guard case .next = verdict else { return verdict }
        }
        return .next
    }
}

/// What a stage says about a request.
enum StageVerdict {
    /// On to the next stage.
    case next
    /// Answer the client with this Status; nothing goes upstream.
    case answer(StatusError)
    /// The request needs I/O of its own to be judged (a body to read, an object to fetch, a
    /// wait): the async executor takes it whole, as it arrived.
    case handOver
}

/// One concern of the request path, with one interface: a stage reads and refines the
/// request and says whether it goes on. Stages run in the order `InlineRouter.stages`
/// declares; adding a concern adds a stage.
protocol RequestStage: Sendable {
    func process(_ request: inout ProxyRequest) -> StageVerdict
}
