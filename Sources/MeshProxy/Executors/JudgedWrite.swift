import KubeModel
import MeshCore
import MeshHTTP
import NIOCore

/// A write whose judgement needs the object as stored: the proxy reads it first, judges it as
/// it is and as the write will leave it, then sends the write pinned to the version judged.
/// An object the proxy cannot read is never written: the read's own answer (404, 403, 500…)
/// goes back instead.
struct JudgedWrite: AsyncExecutor {
    enum Judgement {
        /// An object keyed by `mode`; a write to a Namespace is judged as `namespaceWrite` says.
        case keyed(ShardSpec.KeyMode, namespaceWrite: NamespaceWrite?)
        /// An object that reaches every object of resources this shard holds only part of (a
        /// CustomResourceDefinition, an admission webhook or policy, an APIService): the write
        /// may not change what it does to them (`DefinitionChange`).
        case definition
    }

    let proxy: ShardProxy
    let info: RequestInfo
    let judgement: Judgement
    let write: ShardState.WriteTicket

    func run(_ call: AsyncCall) async {
        guard let current = await readCurrent(call) else { return }
        let forwarded: ServerRequest?
        switch judgement {
        case .keyed(let mode, let namespaceWrite):
            forwarded = await judgeKeyed(call, current: current, mode: mode, namespaceWrite: namespaceWrite)
        case .definition:
            forwarded = await judgeDefinition(call, current: current)
        }
        guard let forwarded else { return }
        proxy.metrics.add(.passedThrough)
        var judged = call
        judged.request = forwarded
        await AdmittedForward(proxy: proxy, info: info, write: write).run(judged)
    }

    /// Judges both sides of a keyed write. Returns the request to forward (its body carrying
    /// the preconditions that pin it to the judged object), or nil after answering itself.
    func judgeKeyed(_ call: AsyncCall, current: JSON, mode: ShardSpec.KeyMode, namespaceWrite: NamespaceWrite?) async -> ServerRequest? {
        let spec = write.spec
        let request = call.request
        let labels = proxy.namespaceLabels.lookup
        let identity = ObjectIdentity(json: current)
        let owned = ShardFence.owns(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: labels)
        guard owned || namespaceWrite?.sharded == false else {
            await proxy.refuse(StatusError.forbidden(proxy.notOwned(info, identity, mode: mode, spec: spec)), writer: call.writer)
            return nil
        }
        var forwarded = request
        let contentType = request.headers.first(name: "content-type")
        switch info.verb {
        case .create where info.subresource != nil:
            switch SubresourceCreatePin.pinned(subresource: info.subresource ?? "", contentType: contentType, body: call.body.bytes,
                                               uid: identity.uid, resourceVersion: identity.resourceVersion, mode: mode) {
            case .success(let pinned?):
                forwarded.body = ByteBuffer(bytes: pinned)
                forwarded.headers.replaceOrAdd(name: "content-type", value: "application/json")
            case .success(nil):
                break
            case .failure(let error):
                await proxy.refuse(error, writer: call.writer)
                return nil
            }
        case .delete where info.subresource == nil:
            switch DeletePin.pinned(contentType: contentType, body: call.body.bytes, query: call.target.query,
                                    uid: identity.uid, resourceVersion: identity.resourceVersion, mode: mode) {
            case .success(let pinned):
                forwarded.body = ByteBuffer(bytes: pinned)
                forwarded.headers.replaceOrAdd(name: "content-type", value: "application/json")
            case .failure(let error):
                await proxy.refuse(error, writer: call.writer)
                return nil
            }
        case .update, .patch:
            let keyField = mode == .object ? "ownerReferences" : "labels"
            switch KeyedWrite.plan(current: current, info: info, contentType: contentType, body: call.body.bytes, keyField: keyField) {
            case .success(let plan):
                let moves = namespaceWrite?.judgesOwnership(labelsChange: plan.future.labels != identity.labels) ?? true
                if moves, !owned {
                    await proxy.refuse(StatusError.forbidden(proxy.notOwned(info, identity, mode: mode, spec: spec) + "; the write changes its labels"),
                                       writer: call.writer)
                    return nil
                }
                guard !moves || ShardFence.owns(plan.future, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: labels) else {
                    let message = "\(info.verb.rawValue) \(info.groupResource) refused: the write would move the object to \(proxy.keyDescription(info, plan.future, mode: mode)), which shard \(spec?.shard ?? "(none)") does not own"
                    await proxy.refuse(StatusError.forbidden(message), writer: call.writer)
                    return nil
                }
                if let pinned = plan.body { forwarded.body = ByteBuffer(bytes: pinned) }
            case .failure(let error):
                await proxy.refuse(error, writer: call.writer)
                return nil
            }
        default:
            break
        }
        return forwarded
    }

    /// Works out what a write to a definition leaves and refuses it if that changes what the
    /// object does to the objects it reaches; else returns it pinned to the version judged.
    func judgeDefinition(_ call: AsyncCall, current: JSON) async -> ServerRequest? {
        let plan: KeyedWrite.Plan
        switch KeyedWrite.plan(current: current, info: info, contentType: call.request.headers.first(name: "content-type"),
                               body: call.body.bytes, keyField: nil) {
        case .success(let planned): plan = planned
        case .failure(let error):
            await proxy.refuse(error, writer: call.writer)
            return nil
        }
        guard let future = plan.object else {
            await proxy.refuse(StatusError(code: 415, reason: .unsupportedMediaType,
                                           message: "the proxy reads a write to \(info.groupResource) as JSON only"), writer: call.writer)
            return nil
        }
        if DefinitionChange.reachesObjects(current: current, future: future) {
            let message = "\(info.verb.rawValue) \(info.groupResource) refused: the write changes what \(info.name ?? "it") does to objects of other shards (shard \(write.spec?.shard ?? "(none)") does not own all it reaches); only its metadata, other than ownerReferences, and its webhooks' caBundle may change"
            await proxy.refuse(StatusError.forbidden(message), writer: call.writer)
            return nil
        }
        var forwarded = call.request
        if let body = plan.body { forwarded.body = ByteBuffer(bytes: body) }
        return forwarded
    }

    /// Reads, as JSON, the object the write addresses. Nil after answering the client itself.
    func readCurrent(_ call: AsyncCall) async -> JSON? {
        let shardedCall = ShardProxy.isShardedCall(info, write)
        guard let name = info.name else {
            await proxy.refuse(StatusError.forbidden("a name is required"), writer: call.writer)
            return nil
        }
        let objectPath = info.objectPath(namespace: info.namespace, name: name)
        var headers = ShardProxy.upstreamHeaders(call.request.headers)
        for header in ["content-type", "accept-encoding", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
                       "sec-websocket-extensions", "x-stream-protocol-version"] {
            headers.remove(name: header)
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        proxy.stamp(&headers, .resource(info.with(verb: .get)))
        let response: UpstreamResponse
        let body: ByteBuffer
        do {
            (response, body) = try await proxy.exchange(method: .GET, target: objectPath, headers: headers, limit: ShardProxy.objectBytes,
                                                        on: call.request.eventLoop)
        } catch {
            await proxy.upstreamFailed(error, writer: call.writer, shardedCall: shardedCall)
            return nil
        }
        guard response.status == .ok else {
            proxy.metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
            await call.writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                      body: Array(body.readableBytesView))
            return nil
        }
        guard let current = try? JSON.parse(body.readableBytesView) else {
            proxy.metrics.add(.filterErrors)
            await proxy.refuse(ShardProxy.unreadableKey, writer: call.writer)
            return nil
        }
        return current
    }
}
