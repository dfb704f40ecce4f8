import KubeModel

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
