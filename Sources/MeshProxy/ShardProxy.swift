import KubeClient
import KubeModel
import Logging
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The sidecar's request path: classify the request once, let `ShardFence` decide, pass the
/// fault and breaker policies, then forward, filter or refuse. Non-resource requests
/// (discovery, health, OpenAPI) and resources the spec does not shard pass through unchanged
/// (policies still apply to them).
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
        guard let info else {
            // An allowed non-resource read (discovery, version, OpenAPI, health).
            metrics.add(.passedThrough)
            return await relay(request, writer: writer)
        }
        switch info.verb {
        case .list, .watch:
            await serveStream(request, target: target, info: info, watchFault: watchFault, writer: writer)
        default:
            await serveSingle(request, target: target, info: info, body: body, writer: writer)
        }
    }

    // MARK: Lists and watches

    func serveStream(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, watchFault: WatchFault? = nil,
                     writer: ResponseWriter) async {
        let gr = info.groupResource
        let ticket = state.registerStream(gr, abort: { writer.abort() })
        defer { state.deregister(ticket) }
        var faults = WatchFaults(fault: watchFault)
        if info.verb == .watch {
            let (id, changes) = policies.watchOpened()
            faults.policyChanges = changes
            defer { policies.watchClosed(id) }
            return await serveStream(request, target: target, info: info, ticket: ticket, faults: faults, writer: writer)
        }
        await serveStream(request, target: target, info: info, ticket: ticket, faults: faults, writer: writer)
    }

    func serveStream(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, ticket: ShardState.StreamTicket,
                     faults: WatchFaults, writer: ResponseWriter) async {
        let query = target.query
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
                return await relayFiltered(request, target: request.uri, headers: headers, writer: writer, ticket: ticket,
                                           faults: faults) { format in
                    BodyFilter.watch(format, bookmarks: bookmarks, keep: { _ in true })
                }
            }
            return await relay(request, writer: writer, ticket: ticket, policyChanges: faults.policyChanges)
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
        let plan = FilteredStream(info: info, target: target, headers: ShardProxy.upstreamHeaders(request.headers), mode: mode,
                                  spec: ticket.spec, namespaceLabels: namespaceLabels.lookup)
        await relayFiltered(request, target: plan.target, headers: plan.headers, writer: writer, ticket: ticket, faults: faults,
                            makeFilter: plan.makeFilter)
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

    func serveSingle(_ received: ServerRequest, target: RequestTarget, info: RequestInfo, body: DecodedBody, writer: ResponseWriter) async {
        let ticket = state.beginWrite(info.groupResource)
        defer { state.endWrite(ticket) }
        let spec = ticket.spec
        var request = received
        if ticket.sharded, let spec { ShardProxy.stampWriter(&request.headers, spec: spec, identity: writerIdentity) }
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
                return await relayRenamedLock(request, target: target, info: info, body: body, lock: lock, shard: spec.shard, writer: writer)
            }
        }
        let decision = ShardFence.decide(info, spec: spec, namespaceLabels: labels)
        await serveDecided(request, target: target, info: info, body: body, decision: decision, write: ticket, writer: writer)
    }

    /// Whether the answer to a single-object call is what a canary is judged by: a call on a
    /// resource the spec shards (a deletecollection is many calls, none of them the
    /// operator's own).
    static func isShardedCall(_ info: RequestInfo, _ write: ShardState.WriteTicket) -> Bool {
        write.sharded && info.verb != .deletecollection
    }

    /// Carries out the fence's decision for a single-object request admitted as `write`.
    func serveDecided(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, body: DecodedBody, decision: FenceDecision,
                      write: ShardState.WriteTicket, writer: ResponseWriter) async {
        let spec = write.spec
        let gr = info.groupResource
        let labels = namespaceLabels.lookup
        switch decision {
        case .passThrough:
            metrics.add(.passedThrough)
            await forward(request, info: info, write: write, writer: writer)
        case .refuse(let message):
            await refuse(StatusError.forbidden(message), writer: writer)
        case .filterList, .filterWatch:
            await relay(request, writer: writer)  // not produced for single-object verbs
        case .judgeNamespaceCreate(let sharded):
            guard let identity = await readBody(body, writer: writer) else { return }
            if sharded, !ShardFence.mayCreate(identity, gr: gr, mode: .namespace, spec: spec, namespaceLabels: labels) {
                return await refuse(StatusError.forbidden(notOwned(info, identity, mode: .namespace, spec: spec)), writer: writer)
            }
            if let refusal = ShardFence.namespaceOwnersRefusal(info, identity, spec: spec) {
                return await refuse(StatusError.forbidden(refusal), writer: writer)
            }
            await forward(request, info: info, write: write, writer: writer)
        case .judgeBody(let mode):
            guard let identity = await readBody(body, writer: writer) else { return }
            guard ShardFence.mayCreate(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: labels) else {
                return await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec)), writer: writer)
            }
            await forward(request, info: info, write: write, writer: writer)
        case .judgeResponse(let mode):
            await relayJudged(request, info: info, mode: mode, spec: spec, shardedCall: ShardProxy.isShardedCall(info, write), writer: writer)
        case .judgeCurrent(let mode):
            await relayAfterJudgingCurrent(request, target: target, info: info, mode: mode, write: write, writer: writer)
        case .judgeDefinitionChange:
            await relayDefinitionWrite(request, info: info, write: write, writer: writer)
        case .judgeNamespaceWrite(let rule):
            await relayAfterJudgingCurrent(request, target: target, info: info, mode: .namespace, write: write, namespaceWrite: rule,
                                           writer: writer)
        case .deleteOwned(let mode):
            await deleteOwned(request, target: target, info: info, mode: mode, write: write, writer: writer)
        }
    }

    /// The identity of a create's body; nil after refusing a body the API server would not read.
    func readBody(_ body: DecodedBody, writer: ResponseWriter) async -> ObjectIdentity? {
        switch body.read {
        case .success(let read): return read.identity
        case .failure(let error):
            await refuse(error, writer: writer)
            return nil
        }
    }

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

    /// Object-keyed reads: the object itself says whose it is.
    func relayJudged(_ request: ServerRequest, info: RequestInfo, mode: ShardSpec.KeyMode, spec: ShardSpec?, shardedCall: Bool,
                     writer: ResponseWriter) async {
        let response: UpstreamResponse
        let body: ByteBuffer
        do {
            (response, body) = try await exchange(method: request.method, target: request.uri,
                                                  headers: ShardProxy.upstreamHeaders(request.headers), limit: 256 << 20,
                                                  on: request.eventLoop)
        } catch {
            return await upstreamFailed(error, writer: writer, shardedCall: shardedCall)
        }
        metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
        if response.status == .ok {
            let contentType = response.headers.first(name: "content-type")
            guard let identity = ShardProxy.identity(of: Array(body.readableBytesView), contentType: contentType) else {
                metrics.add(.filterErrors)
                return await refuse(StatusError.internalError("the proxy could not read the object's key from the API server's response"), writer: writer)
            }
            guard ShardFence.owns(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: namespaceLabels.lookup) else {
                return await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec)), writer: writer)
            }
        }
        await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                             body: Array(body.readableBytesView))
    }

    /// Writes to objects whose key the object decides: read the object first, judge it as it
    /// is and as the write will leave it, then write (pinned to the judged object).
    func relayAfterJudgingCurrent(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, mode: ShardSpec.KeyMode,
                                  write: ShardState.WriteTicket, namespaceWrite: NamespaceWrite? = nil, writer: ResponseWriter) async {
        guard let forwarded = await judgeCurrent(request, target: target, info: info, mode: mode, write: write, namespaceWrite: namespaceWrite,
                                                 writer: writer) else { return }
        metrics.add(.passedThrough)
        await forward(forwarded, info: info, write: write, writer: writer)
    }

    /// Reads the object a request addresses and judges both sides of the write. Returns the
    /// request to forward (its body carrying the preconditions that pin it to the judged
    /// object), or nil after answering the client itself. An object the proxy cannot read is
    /// never written: the read's own answer (404, 403, 500…) goes back instead.
    /// A write to a Namespace is judged as `namespaceWrite` says.
    func judgeCurrent(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, mode: ShardSpec.KeyMode, write: ShardState.WriteTicket,
                      namespaceWrite: NamespaceWrite? = nil, writer: ResponseWriter) async -> ServerRequest? {
        let spec = write.spec
        guard let current = await readCurrent(request, info: info, shardedCall: ShardProxy.isShardedCall(info, write), writer: writer) else {
            return nil
        }
        let labels = namespaceLabels.lookup
        let identity = ObjectIdentity(json: current)
        let owned = ShardFence.owns(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: labels)
        guard owned || namespaceWrite?.sharded == false else {
            await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec)), writer: writer)
            return nil
        }
        var forwarded = request
        let contentType = request.headers.first(name: "content-type")
        switch info.verb {
        case .create where info.subresource != nil:
            switch SubresourceCreatePin.pinned(subresource: info.subresource ?? "", contentType: contentType, body: request.bodyBytes,
                                               uid: identity.uid, resourceVersion: identity.resourceVersion, mode: mode) {
            case .success(let pinned?):
                forwarded.body = ByteBuffer(bytes: pinned)
                forwarded.headers.replaceOrAdd(name: "content-type", value: "application/json")
            case .success(nil):
                break
            case .failure(let error):
                await refuse(error, writer: writer)
                return nil
            }
        case .delete where info.subresource == nil:
            switch DeletePin.pinned(contentType: contentType, body: request.bodyBytes, query: target.query,
                                    uid: identity.uid, resourceVersion: identity.resourceVersion, mode: mode) {
            case .success(let pinned):
                forwarded.body = ByteBuffer(bytes: pinned)
                forwarded.headers.replaceOrAdd(name: "content-type", value: "application/json")
            case .failure(let error):
                await refuse(error, writer: writer)
                return nil
            }
        case .update, .patch:
            let keyField = mode == .object ? "ownerReferences" : "labels"
            switch KeyedWrite.plan(current: current, info: info, contentType: contentType, body: request.bodyBytes, keyField: keyField) {
            case .success(let plan):
                let moves = namespaceWrite?.judgesOwnership(labelsChange: plan.future.labels != identity.labels) ?? true
                if moves, !owned {
                    await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec) + "; the write changes its labels"), writer: writer)
                    return nil
                }
                guard !moves || ShardFence.owns(plan.future, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: labels) else {
                    let message = "\(info.verb.rawValue) \(info.groupResource) refused: the write would move the object to \(keyDescription(info, plan.future, mode: mode)), which shard \(spec?.shard ?? "(none)") does not own"
                    await refuse(StatusError.forbidden(message), writer: writer)
                    return nil
                }
                if let pinned = plan.body { forwarded.body = ByteBuffer(bytes: pinned) }
            case .failure(let error):
                await refuse(error, writer: writer)
                return nil
            }
        default:
            break
        }
        return forwarded
    }

    /// Reads, as JSON, the object a write addresses. Nil after answering the client itself:
    /// an object the proxy cannot read is never written, and the read's own answer (404, 403,
    /// 500…) goes back instead.
    func readCurrent(_ request: ServerRequest, info: RequestInfo, shardedCall: Bool, writer: ResponseWriter) async -> JSON? {
        guard let name = info.name else {
            await refuse(StatusError.forbidden("a name is required"), writer: writer)
            return nil
        }
        let objectPath = info.objectPath(namespace: info.namespace, name: name)
        var headers = ShardProxy.upstreamHeaders(request.headers)
        for header in ["content-type", "accept-encoding", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
                       "sec-websocket-extensions", "x-stream-protocol-version"] {
            headers.remove(name: header)
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        stamp(&headers, .resource(info.with(verb: .get)))
        let response: UpstreamResponse
        let body: ByteBuffer
        do {
            (response, body) = try await exchange(method: .GET, target: objectPath, headers: headers, limit: 256 << 20,
                                                  on: request.eventLoop)
        } catch {
            await upstreamFailed(error, writer: writer, shardedCall: shardedCall)
            return nil
        }
        guard response.status == .ok else {
            metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
            await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                 body: Array(body.readableBytesView))
            return nil
        }
        guard let current = try? JSON.parse(body.readableBytesView) else {
            metrics.add(.filterErrors)
            await refuse(StatusError.internalError("the proxy could not read the object's key from the API server's response"), writer: writer)
            return nil
        }
        return current
    }

    // MARK: Bodies

    static func identity(of bytes: [UInt8], contentType: String?) -> ObjectIdentity? {
        switch BodyFormat(contentType: contentType ?? "application/json") {
        case .json: bytes.withUnsafeBufferPointer { try? JSONIdentityReader.object($0) }
        case .protobuf: try? ProtobufIdentityReader.envelope(bytes[...])
        case nil: nil
        }
    }

    // MARK: Leader-election lock

    func relayRenamedLock(_ request: ServerRequest, target: RequestTarget, info: RequestInfo, body received: DecodedBody,
                          lock: ShardSpec.LeaderElectionLock, shard: String, writer: ResponseWriter) async {
        let shardName = LeaderLockRename.shardLockName(lock.name, shard: shard)
        let renamed = LeaderLockRename.target(target, resource: lock.resource, name: lock.name, newName: shardName).encoded
        var headers = ShardProxy.upstreamHeaders(request.headers)
        headers.remove(name: "accept-encoding")
        stamp(&headers, .resource(info.with(verb: info.verb, name: info.name == nil ? nil : shardName, subresource: info.subresource)))
        var body: ByteBuffer?
        if request.body.readableBytes > 0 {
            guard var json = received.json else {
                return await refuse(StatusError.unsupportedMediaType(request.headers.first(name: "content-type") ?? "none"), writer: writer)
            }
            if json.name == lock.name { json.setMetadata("name", .string(shardName)) }
            body = ByteBuffer(bytes: json.serialized())
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        do {
            let (response, collected) = try await exchange(method: request.method, target: renamed, headers: headers, body: body,
                                                           limit: 16 << 20, on: request.eventLoop)
            var out = Array(collected.readableBytesView)
            if var json = try? JSON.parse(out), json.name == shardName {
                json.setMetadata("name", .string(lock.name))
                out = json.serialized()
            }
            await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false), body: out)
        } catch {
            await upstreamFailed(error, writer: writer)
        }
    }
}
