import KubeModel
import MeshCore
import NIOHTTP1

/// Parses the target once and classifies the request; what cannot be classified is refused.
struct ClassifyStage: RequestStage {
    func process(_ request: inout ProxyRequest) -> StageVerdict {
        switch RequestClassifier.classify(method: request.method.rawValue, target: request.uri) {
        case .refused(let status): return .answer(status)
        case .nonResource(let parsed): (request.target, request.info) = (parsed, nil)
        case .resource(let parsed, let info): (request.target, request.info) = (parsed, info)
        }
        return .next
    }
}

/// Keeps only the headers the API server reads; the mesh's own stamps come from the proxy
/// alone. A body the proxy would read one way and the server another is refused.
struct HeaderStage: RequestStage {
    func process(_ request: inout ProxyRequest) -> StageVerdict {
        if let refusal = ForwardedHeaders.refusal(request.received) { return .answer(refusal) }
        request.headers = HTTPHeaders(request.received.filter { ForwardedHeaders.forwards($0.name) })
        return .next
    }
}

/// An upgrade of exec, attach, port-forward or a proxy subresource becomes a tunnel: the
/// async executor opens it. Any other request's `Upgrade` goes no further (hop-by-hop).
struct UpgradeStage: RequestStage {
    func process(_ request: inout ProxyRequest) -> StageVerdict {
        ShardProxy.isUpgrade(request.received, isHTTP2: request.isHTTP2, info: request.info) ? .handOver : .next
    }
}

/// Fault and breaker rules: a request any rule is about waits, is delayed or answered by
/// them, so the async executor takes it; requests no rule concerns pass untouched.
struct PolicyStage: RequestStage {
    let policies: PolicyFilter
    let upstream: String

    func process(_ request: inout ProxyRequest) -> StageVerdict {
        guard policies.isActive else { return .next }
        if request.hasBody, policies.readsBody { return .handOver }
        let facts = RequestFacts(method: request.method.rawValue, path: request.target.path, upstream: upstream, info: request.info)
        return policies.concerns(facts) ? .handOver : .next
    }
}

/// The mesh's own objects (ShardingConfigs, policies, member leases) are not the operator's
/// to write. A create of a Lease names its object in the body: read by the async executor.
struct MeshControlStage: RequestStage {
    func process(_ request: inout ProxyRequest) -> StageVerdict {
        guard let info = request.info, info.verb != .list, info.verb != .watch else { return .next }
        if info.verb == .create, info.resource == "leases" { return .handOver }
        return MeshControlWrite.refusal(info).map { .answer(.forbidden($0)) } ?? .next
    }
}

/// Requests in the leader-election lock's collection are renamed or refused by the async
/// executor (a create names its object in the body).
struct LeaderLockStage: RequestStage {
    let state: ShardState

    func process(_ request: inout ProxyRequest) -> StageVerdict {
        guard let info = request.info, info.verb != .list, info.verb != .watch,
              let lock = state.spec?.leaderElection, LeaderLockRename.inLockCollection(info, lock: lock) else { return .next }
        return .handOver
    }
}
