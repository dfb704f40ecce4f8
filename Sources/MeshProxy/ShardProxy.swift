import KubeClient
import KubeModel
import Logging
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The proxy's async executor, for what needs I/O to judge: a request the event-loop router
/// hands over (or, with `--async-data-path`, every request) is judged in the router's order —
/// the stages (`RequestPipeline`), the in-flight limit, the fault and breaker policies, the
/// mesh's own objects and the leader-election lock, the fence — and carried out by one
/// `AsyncExecutor` per decision (`Executors/`). Non-resource requests (discovery, health,
/// OpenAPI) and resources the spec does not shard pass through unchanged (policies still
/// apply to them).
public final class ShardProxy: HTTPResponder {
    /// The API server's address and the proxy's credentials.
    let upstream: APIConnection
    /// The connections to it, per event loop: every request the proxy sends goes over them.
    let pool: UpstreamPool
    let state: ShardState
    let namespaceLabels: NamespaceLabelCache
    let metrics: ProxyMetrics
    let policies: PolicyFilter
    /// Stamp every request sent upstream with the proxy's `Judgement` of it (a verification
    /// aid: the embedded API server's `--check-judgements` compares it with its own routing).
    let stampsJudgements: Bool
    let inFlight: InFlightLimit
    /// The stages before the fence, shared by both executors.
    let pipeline: RequestPipeline
    /// The user a stamped write impersonates when the operator impersonates nobody itself: the
    /// operator's own service account, so its permissions are the ones checked.
    let writerIdentity: String
    let logger: Logger

    public init(upstream: APIConnection, pool: UpstreamPool, state: ShardState, namespaceLabels: NamespaceLabelCache, metrics: ProxyMetrics,
                policies: PolicyFilter, stampsJudgements: Bool = false, maxInFlight: Int = 1024,
                writerIdentity: String = "system:serviceaccount:default:default", logger: Logger = Logger(label: "ctrlmesh.proxy")) {
        self.writerIdentity = writerIdentity
        self.inFlight = InFlightLimit(limit: maxInFlight)
        self.upstream = upstream
        self.pool = pool
        self.state = state
        self.namespaceLabels = namespaceLabels
        self.metrics = metrics
        self.policies = policies
        self.stampsJudgements = stampsJudgements
        self.logger = logger
        pipeline = RequestPipeline(state: state, policies: policies, upstream: upstream.config.server)
    }

    /// The answer past the in-flight limit, as the API server's own limit answers.
    var inFlightRefusal: StatusError {
        StatusError(code: 429, reason: .tooManyRequests,
                    message: "the proxy has \(inFlight.limit) requests in flight to the API server, its limit; please try again later",
                    retryAfterSeconds: 1)
    }

    /// Sets the judgement stamp of a request about to go upstream (when stamping is on).
    func stamp(_ headers: inout HTTPHeaders, _ judgement: Judgement) {
        guard stampsJudgements else { return }
        headers.replaceOrAdd(name: Judgement.header, value: judgement.text)
    }

    public func respond(to received: ServerRequest, writer: ResponseWriter) async {
        metrics.add(.requests)
        if received.bodyTooLarge {
            return await refuse(StatusError.tooLarge(limit: 3 * 1024 * 1024), writer: writer)
        }
        // Classified once: by the router's run of the pipeline when it handed the request over,
        // else here by the same stages. From here on the request carries the target as it was
        // parsed and only the headers the API server reads, so what goes upstream is what was
        // judged; the mesh's own headers (`stampWriter`) come from the proxy alone.
        var judged: ProxyRequest
        if let routed = received.routed as? ProxyRequest {
            judged = routed
        } else {
            judged = ProxyRequest(collected: received)
            if case .answer(let status) = pipeline.run(&judged) { return await refuse(status, writer: writer) }
        }
        let (target, info) = (judged.target, judged.info)
        guard inFlight.enter() else { return await refuse(inFlightRefusal, writer: writer) }
        defer { inFlight.leave() }
        var request = received
        request.uri = target.encoded
        request.headers = judged.headers
        stamp(&request.headers, info.map { .resource($0) } ?? .nonResource(path: target.path))
        let body = DecodedBody(received)
        if policies.isActive {
            let facts = policyFacts(request, info: info, body: body)
            // Fencing comes first: a request refused for its shard consumes no token and
            // counts toward no fault.
            if policies.concerns(facts), !ShardProxy.fenceRefuses(info, spec: state.spec, namespaceLabels: namespaceLabels.lookup) {
                guard let admission = await passPolicies(request, facts: facts, writer: writer) else { return }
                defer { policies.finish(admission) }
                return await route(request, target: target, info: info, body: body, watchFault: admission.watch, writer: writer)
            }
        }
        await route(request, target: target, info: info, body: body, watchFault: nil, writer: writer)
    }

    static func fenceRefuses(_ info: RequestInfo?, spec: ShardSpec?, namespaceLabels: (String) -> [String: String]?) -> Bool {
        guard let info, case .refuse = ShardFence.decide(info, spec: spec, namespaceLabels: namespaceLabels) else { return false }
        return true
    }

    func route(_ request: ServerRequest, target: RequestTarget, info: RequestInfo?, body: DecodedBody, watchFault: WatchFault?,
               writer: ResponseWriter) async {
        let call = AsyncCall(request: request, target: target, body: body, writer: writer)
        guard let info else {
            // An allowed non-resource read (discovery, version, OpenAPI, health).
            metrics.add(.passedThrough)
            return await StreamRelay(proxy: self).run(call)
        }
        switch info.verb {
        case .list, .watch:
            await serveStream(call, info: info, watchFault: watchFault)
        default:
            await serveSingle(call, info: info)
        }
    }

    // MARK: Lists and watches

    func serveStream(_ call: AsyncCall, info: RequestInfo, watchFault: WatchFault? = nil) async {
        let gr = info.groupResource
        let writer = call.writer
        let ticket = state.registerStream(gr, abort: { writer.abort() })
        defer { state.deregister(ticket) }
        var faults = WatchFaults(fault: watchFault)
        if info.verb == .watch {
            let (id, changes) = policies.watchOpened()
            faults.policyChanges = changes
            defer { policies.watchClosed(id) }
            return await serveStream(call, info: info, ticket: ticket, faults: faults)
        }
        await serveStream(call, info: info, ticket: ticket, faults: faults)
    }

    /// Picks the stream's executor: relayed whole, filtered to the shard, or answered.
    func serveStream(_ call: AsyncCall, info: RequestInfo, ticket: ShardState.StreamTicket, faults: WatchFaults) async {
        let (request, writer) = (call.request, call.writer)
        let query = call.target.query
        let decision = ShardFence.decide(info, spec: ticket.spec, namespaceLabels: namespaceLabels.lookup)
        let mode: ShardSpec.KeyMode
        switch decision {
        case .filterList(let m), .filterWatch(let m): mode = m
        default:
            metrics.add(.passedThrough)
            if faults.fault != nil, info.verb == .watch {
                // Faulting a stream needs its events: relay it through a filter that keeps all.
                let bookmarks = query.bool("allowWatchBookmarks")
                var headers = ShardProxy.upstreamHeaders(request.headers)
                headers.remove(name: "accept-encoding")
                return await FilteredRelay(proxy: self, target: request.uri, headers: headers, ticket: ticket, faults: faults) { format in
                    BodyFilter.watch(format, bookmarks: bookmarks, keep: { _ in true })
                }.run(call)
            }
            return await StreamRelay(proxy: self, ticket: ticket, policyChanges: faults.policyChanges).run(call)
        }
        switch FilteredStream.refusal(info, query: query, state: state) {
        case .relist?:
            // The client's view predates a change of this shard's slice: make it relist.
            metrics.add(.watchesExpired)
            let expired = FilteredStream.expiredWatch(accept: request.headers.first(name: "accept"))
            return await writer.respond(status: .ok, headers: expired.headers, body: expired.body)
        case .staleContinue(let status)?:
            return await refuse(status, writer: writer)
        case nil:
            break
        }
        let plan = FilteredStream(info: info, target: call.target, headers: ShardProxy.upstreamHeaders(request.headers), mode: mode,
                                  spec: ticket.spec, namespaceLabels: namespaceLabels.lookup)
        await FilteredRelay(proxy: self, target: plan.target, headers: plan.headers, ticket: ticket, faults: faults,
                            makeFilter: plan.makeFilter).run(call)
    }

    /// Marks a write with the shard, epoch and config it is admitted under (`WriterStamp`), as
    /// impersonation extras: the fence at the API server judges it by them, and the write
    /// audit records them. Whatever the operator sent under those names was dropped on
    /// arrival. The operator's own impersonation, if any, carries the extras; otherwise the
    /// write impersonates the operator's service account.
    static func stampWriter(_ headers: inout HTTPHeaders, spec: ShardSpec, identity: String) {
        if !headers.contains(name: "impersonate-user") { headers.add(name: "Impersonate-User", value: identity) }
        for (name, value) in spec.stamp.headers { headers.add(name: name, value: value) }
    }

    /// What a watch whose view a spec change invalidated ends with.
    static let sliceChanged = StatusError.expired("the shard's slice of this resource changed; relist to see the new slice")

    /// A watch ERROR event in the stream's format.
    static func errorEvent(_ status: StatusError, protobuf: Bool) -> [UInt8] {
        protobuf ? ProtobufWatchFilter.errorFrame(code: status.code, reason: status.reason.rawValue, message: status.message)
            : status.watchErrorEvent
    }

    // MARK: Single objects

    /// Picks a single-object request's executor: the mesh's own objects and the
    /// leader-election lock first, then the fence's decision.
    func serveSingle(_ received: AsyncCall, info: RequestInfo) async {
        let ticket = state.beginWrite(info.groupResource)
        defer { state.endWrite(ticket) }
        let spec = ticket.spec
        var call = received
        if ticket.sharded, let spec { ShardProxy.stampWriter(&call.request.headers, spec: spec, identity: writerIdentity) }
        let (body, writer) = (call.body, call.writer)
        let labels = namespaceLabels.lookup
        let createdLease: (name: String?, generateName: String?) = info.verb == .create && info.resource == "leases"
            ? body.names : (nil, nil)
        if let refusal = MeshControlWrite.refusal(info, bodyName: createdLease.name ?? createdLease.generateName) {
            return await refuse(StatusError.forbidden(refusal), writer: writer)
        }

        if let lock = spec?.leaderElection, let spec, LeaderLockRename.inLockCollection(info, lock: lock) {
            // Only a create in the lock's collection has its body read here.
            let (bodyName, generateName) = info.verb == .create ? body.names : (nil, nil)
            if LeaderLockRename.targetsRenamedLock(info, bodyName: bodyName ?? generateName, lock: lock) {
                return await refuse(StatusError.forbidden("\(info.verb.rawValue) \(info.groupResource) refused: \(lock.namespace)/\(info.name ?? bodyName ?? generateName ?? "") is a shard's leader-election lock; shard \(spec.shard) reaches its own as \(lock.name)"), writer: writer)
            }
            if LeaderLockRename.targetsLock(info, bodyName: bodyName, lock: lock) {
                metrics.add(.lockRenames)
                return await LockRename(proxy: self, info: info, lock: lock, shard: spec.shard).run(call)
            }
        }
        let decision = ShardFence.decide(info, spec: spec, namespaceLabels: labels)
        await executor(for: decision, info: info, write: ticket).run(call)
    }

    /// Whether the answer to a single-object call is what a canary is judged by: a call on a
    /// resource the spec shards (a deletecollection is many calls, none of them the
    /// operator's own).
    static func isShardedCall(_ info: RequestInfo, _ write: ShardState.WriteTicket) -> Bool {
        write.sharded && info.verb != .deletecollection
    }

    /// The executor of the fence's decision for a single-object request admitted as `write`.
    func executor(for decision: FenceDecision, info: RequestInfo, write: ShardState.WriteTicket) -> any AsyncExecutor {
        switch decision {
        case .passThrough:
            metrics.add(.passedThrough)
            return AdmittedForward(proxy: self, info: info, write: write)
        case .refuse(let message):
            return Refusal(proxy: self, status: .forbidden(message))
        case .filterList, .filterWatch:
            return StreamRelay(proxy: self)  // not produced for single-object verbs
        case .judgeNamespaceCreate(let sharded):
            return BodyJudgedCreate(proxy: self, info: info, judgement: .namespace(sharded: sharded), write: write)
        case .judgeBody(let mode):
            return BodyJudgedCreate(proxy: self, info: info, judgement: .object(mode), write: write)
        case .judgeResponse(let mode):
            return JudgedRead(proxy: self, info: info, mode: mode, spec: write.spec, shardedCall: ShardProxy.isShardedCall(info, write))
        case .judgeCurrent(let mode):
            return JudgedWrite(proxy: self, info: info, judgement: .keyed(mode, namespaceWrite: nil), write: write)
        case .judgeNamespaceWrite(let rule):
            return JudgedWrite(proxy: self, info: info, judgement: .keyed(.namespace, namespaceWrite: rule), write: write)
        case .judgeDefinitionChange:
            return JudgedWrite(proxy: self, info: info, judgement: .definition, write: write)
        case .deleteOwned(let mode):
            return DeleteCollectionFanOut(proxy: self, info: info, mode: mode, write: write)
        }
    }

    /// Why a shard may not have an object, in the words of a 403.
    func notOwned(_ info: RequestInfo, _ identity: ObjectIdentity, mode: ShardSpec.KeyMode, spec: ShardSpec?) -> String {
        ShardFence.notOwnedMessage(verb: info.verb, gr: info.groupResource, key: keyDescription(info, identity, mode: mode),
                                   shard: spec?.shard ?? "(none: no spec received)")
    }

    func keyDescription(_ info: RequestInfo, _ identity: ObjectIdentity, mode: ShardSpec.KeyMode) -> String {
        switch mode {
        case .namespace:
            let namespace = info.resource == "namespaces" ? identity.name : identity.namespace
            return namespace.isEmpty ? "a namespace not named yet (a generateName is not known until the server draws it)" : "namespace \(namespace)"
        case .object:
            let uid = identity.controllerUID ?? identity.uid
            return identity.controllerUID != nil ? "controller owner \(uid)" : "object \(uid)"
        }
    }
}
