import KubeModel
import MeshHTTP

/// One request in the async executor, as it was judged: the target and headers that may go
/// upstream (`request.uri`, `request.headers`), its parsed target, its body (decoded at most
/// once) and the writer of its answer. Every async executor runs over it.
struct AsyncCall {
    var request: ServerRequest
    let target: RequestTarget
    let body: DecodedBody
    let writer: ResponseWriter
}

/// One way the async executor carries out the fence's decision for a request, as
/// `ForwardExchange` and `AnswerExchange` are on the event loop: it answers the call whole.
/// `ShardProxy.respond` picks one per request.
protocol AsyncExecutor {
    func run(_ call: AsyncCall) async
}
