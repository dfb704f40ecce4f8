import AsyncHTTPClient
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
    let upstream: APIConnection
    let state: ShardState
    let namespaceLabels: NamespaceLabelCache
    let metrics: ProxyMetrics
    let policies: PolicyFilter
    let logger: Logger

    public init(upstream: APIConnection, state: ShardState, namespaceLabels: NamespaceLabelCache, metrics: ProxyMetrics,
                policies: PolicyFilter, logger: Logger = Logger(label: "ctrlmesh.proxy")) {
        self.upstream = upstream
        self.state = state
        self.namespaceLabels = namespaceLabels
        self.metrics = metrics
        self.policies = policies
        self.logger = logger
    }

    public func respond(to request: ServerRequest, writer: ResponseWriter) async {
        metrics.add(.requests)
        if request.bodyTooLarge {
            return await refuse(StatusError.tooLarge(limit: 3 * 1024 * 1024), writer: writer)
        }
        let query = QueryParameters(request.rawQuery)
        let info = RequestInfo.parse(method: request.method.rawValue, path: request.path, query: query)
        if policies.isActive {
            let facts = policyFacts(request, info: info)
            // Fencing comes first: a request refused for its shard consumes no token and
            // counts toward no fault.
            if policies.concerns(facts), !ShardProxy.fenceRefuses(info, spec: state.spec, namespaceLabels: namespaceLabels.lookup) {
                guard let admission = await passPolicies(request, facts: facts, writer: writer) else { return }
                defer { policies.finish(admission) }
                return await route(request, info: info, query: query, watchFault: admission.watch, writer: writer)
            }
        }
        await route(request, info: info, query: query, watchFault: nil, writer: writer)
    }

    static func fenceRefuses(_ info: RequestInfo?, spec: ShardSpec?, namespaceLabels: (String) -> [String: String]?) -> Bool {
        guard let info, case .refuse = ShardFence.decide(info, spec: spec, namespaceLabels: namespaceLabels) else { return false }
        return true
    }

    func route(_ request: ServerRequest, info: RequestInfo?, query: QueryParameters, watchFault: WatchFault?, writer: ResponseWriter) async {
        guard let info else {
            metrics.add(.passedThrough)
            return await forward(request, writer: writer)
        }
        switch info.verb {
        case .list, .watch:
            await serveStream(request, info: info, query: query, watchFault: watchFault, writer: writer)
        default:
            await serveSingle(request, info: info, writer: writer)
        }
    }

    // MARK: Lists and watches

    func serveStream(_ request: ServerRequest, info: RequestInfo, query: QueryParameters, watchFault: WatchFault? = nil,
                     writer: ResponseWriter) async {
        let gr = info.groupResource
        let ticket = state.registerStream(gr, abort: { writer.abort() })
        defer { state.deregister(ticket) }
        var faults = WatchFaults(fault: watchFault)
        if info.verb == .watch {
            let (id, changes) = policies.watchOpened()
            faults.policyChanges = changes
            defer { policies.watchClosed(id) }
            return await serveStream(request, info: info, query: query, ticket: ticket, faults: faults, writer: writer)
        }
        await serveStream(request, info: info, query: query, ticket: ticket, faults: faults, writer: writer)
    }

    func serveStream(_ request: ServerRequest, info: RequestInfo, query: QueryParameters, ticket: ShardState.StreamTicket,
                     faults: WatchFaults, writer: ResponseWriter) async {
        let gr = info.groupResource
        let labels = namespaceLabels.lookup
        let decision = ShardFence.decide(info, spec: ticket.spec, namespaceLabels: labels)
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
        if info.verb == .watch, query["sendInitialEvents"] != "true", state.watchNeedsRelist(gr, resourceVersion: query["resourceVersion"]) {
            // The client's view predates a change of this shard's slice: make it relist.
            metrics.add(.watchesExpired)
            return await respondExpiredWatch(request, writer: writer)
        }
        if info.verb == .list, let token = query["continue"], state.continueIsStale(gr, token: token) {
            return await refuse(StatusError.expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."), writer: writer)
        }

        var target = request.uri
        var sentShardSelector = false
        if let selector = ticket.spec?.serverShardSelector(for: mode), gr != GroupResource(group: "", resource: "namespaces"),
           query["shardSelector"] == nil {
            // Let an API server with KEP-5866 do the work; without its shardInfo echo the
            // proxy filters the list itself.
            target += (target.contains("?") ? "&" : "?") + "shardSelector=" + QueryEscaping.escape(selector.description)
            sentShardSelector = true
        }
        var headers = ShardProxy.upstreamHeaders(request.headers)
        // Filters read identity bytes: ask for an uncompressed body.
        headers.remove(name: "accept-encoding")
        if let accept = headers.first(name: "accept"), accept.lowercased().contains("cbor") {
            headers.replaceOrAdd(name: "accept", value: "application/json")
        }
        let spec = ticket.spec
        let keep: @Sendable (ObjectIdentity) -> Bool = { identity in
            ShardFence.owns(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: labels)
        }
        let bookmarks = query.bool("allowWatchBookmarks")
        let fields = ShardFence.fieldsJudged(gr: gr, mode: mode, spec: spec)
        await relayFiltered(request, target: target, headers: headers, writer: writer, ticket: ticket, faults: faults) { format in
            info.verb == .watch ? BodyFilter.watch(format, bookmarks: bookmarks, keep: keep) : BodyFilter.list(format, fields: fields, trustsServerShardInfo: sentShardSelector, keep: keep)
        }
    }

    func respondExpiredWatch(_ request: ServerRequest, writer: ResponseWriter) async {
        let protobuf = request.headers.first(name: "accept")?.contains("application/vnd.kubernetes.protobuf") == true
        let event = ShardProxy.errorEvent(ShardProxy.sliceChanged, protobuf: protobuf)
        let contentType = protobuf ? "application/vnd.kubernetes.protobuf;stream=watch" : "application/json"
        await writer.respond(status: .ok, headers: ["content-type": contentType], body: event)
    }

    /// Marks a request with the shard and epoch it is admitted under, for the API server's
    /// ownership audit; whatever the operator sent under those names is dropped.
    static func stampWriter(_ headers: inout HTTPHeaders, spec: ShardSpec?) {
        headers.remove(name: ShardProxy.shardHeader)
        headers.remove(name: ShardProxy.epochHeader)
        guard let spec else { return }
        headers.add(name: ShardProxy.shardHeader, value: spec.shard)
        headers.add(name: ShardProxy.epochHeader, value: String(spec.epoch))
    }

    static let shardHeader = "x-ctrlmesh-shard"
    static let epochHeader = "x-ctrlmesh-epoch"

    /// What a watch whose view a spec change invalidated ends with.
    static let sliceChanged = StatusError.expired("the shard's slice of this resource changed; relist to see the new slice")

    /// A watch ERROR event in the stream's format.
    static func errorEvent(_ status: StatusError, protobuf: Bool) -> [UInt8] {
        protobuf ? ProtobufWatchFilter.errorFrame(code: status.code, reason: status.reason.rawValue, message: status.message)
            : status.watchErrorEvent
    }

    // MARK: Single objects

    func serveSingle(_ received: ServerRequest, info: RequestInfo, writer: ResponseWriter) async {
        let ticket = state.beginWrite()
        defer { state.endWrite(ticket) }
        let spec = ticket.spec
        var request = received
        ShardProxy.stampWriter(&request.headers, spec: spec)
        let labels = namespaceLabels.lookup

        if let lock = spec?.leaderElection, let spec {
            let bodyName = info.verb == .create ? ShardProxy.bodyIdentity(request)?.name : nil
            if LeaderLockRename.targetsLock(info, bodyName: bodyName, lock: lock) {
                metrics.add(.lockRenames)
                return await relayRenamedLock(request, info: info, lock: lock, shard: spec.shard, writer: writer)
            }
        }
        let decision = ShardFence.decide(info, spec: spec, namespaceLabels: labels)
        // The answers to single-object calls on sharded resources are what a canary is judged
        // by (a deletecollection is many calls, none of them the operator's own).
        let sharded = spec?.keyMode(of: info.groupResource) != nil && info.verb != .deletecollection
        await ProxyMetrics.$tallyingShardedCall.withValue(sharded) {
            await serveDecided(request, info: info, decision: decision, spec: spec, writer: writer)
        }
    }

    /// Carries out the fence's decision for a single-object request.
    func serveDecided(_ request: ServerRequest, info: RequestInfo, decision: FenceDecision, spec: ShardSpec?,
                      writer: ResponseWriter) async {
        let gr = info.groupResource
        let labels = namespaceLabels.lookup
        switch decision {
        case .passThrough:
            metrics.add(.passedThrough)
            await forward(request, writer: writer)
        case .refuse(let message):
            await refuse(StatusError.forbidden(message), writer: writer)
        case .filterList, .filterWatch:
            await relay(request, writer: writer)  // not produced for single-object verbs
        case .judgeBody(let mode):
            let identity: ObjectIdentity
            switch ShardProxy.readBody(request) {
            case .success(let read): identity = read
            case .failure(let error): return await refuse(error, writer: writer)
            }
            guard ShardFence.mayCreate(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: labels) else {
                return await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec)), writer: writer)
            }
            await forward(request, writer: writer)
        case .judgeResponse(let mode):
            await relayJudged(request, info: info, mode: mode, spec: spec, writer: writer)
        case .judgeCurrent(let mode):
            await relayAfterJudgingCurrent(request, info: info, mode: mode, spec: spec, writer: writer)
        case .deleteOwned(let mode):
            await deleteOwned(request, info: info, mode: mode, spec: spec, writer: writer)
        }
    }

    func notOwned(_ info: RequestInfo, _ identity: ObjectIdentity, mode: ShardSpec.KeyMode, spec: ShardSpec?) -> String {
        let key: String
        switch mode {
        case .namespace: key = "namespace \(info.resource == "namespaces" ? identity.name : identity.namespace)"
        case .object:
            let uid = identity.controllerUID ?? identity.uid
            key = identity.controllerUID != nil ? "controller owner \(uid)" : "object \(uid)"
        }
        return ShardFence.notOwnedMessage(verb: info.verb, gr: info.groupResource, key: key, shard: spec?.shard ?? "(none: no spec received)")
    }

    /// Object-keyed reads: the object itself says whose it is.
    func relayJudged(_ request: ServerRequest, info: RequestInfo, mode: ShardSpec.KeyMode, spec: ShardSpec?, writer: ResponseWriter) async {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await upstream.send(method: request.method, target: request.uri,
                                               headers: ShardProxy.upstreamHeaders(request.headers), body: nil)
            body = try await response.body.collect(upTo: 256 << 20)
        } catch {
            return await upstreamFailed(error, writer: writer)
        }
        metrics.tally(status: Int(response.status.code))
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

    /// Object-keyed writes: read the object first, judge it, then write (a delete is pinned
    /// to the judged object's uid).
    func relayAfterJudgingCurrent(_ request: ServerRequest, info: RequestInfo, mode: ShardSpec.KeyMode, spec: ShardSpec?,
                                  writer: ResponseWriter) async {
        guard let forwarded = await judgeCurrent(request, info: info, mode: mode, spec: spec, writer: writer) else { return }
        metrics.add(.passedThrough)
        await forward(forwarded, writer: writer)
    }

    /// Reads the object a request addresses and judges it. Returns the request to forward (a
    /// delete pinned to the judged uid), or nil after answering the client itself.
    func judgeCurrent(_ request: ServerRequest, info: RequestInfo, mode: ShardSpec.KeyMode, spec: ShardSpec?,
                      writer: ResponseWriter) async -> ServerRequest? {
        guard let name = info.name else {
            await refuse(StatusError.forbidden("a name is required"), writer: writer)
            return nil
        }
        let objectPath = info.objectPath(namespace: info.namespace, name: name)
        var headers = ShardProxy.upstreamHeaders(request.headers)
        for header in ["content-type", "accept-encoding", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "x-stream-protocol-version"] {
            headers.remove(name: header)
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        let current: HTTPClientResponse
        let body: ByteBuffer
        do {
            current = try await upstream.send(method: .GET, target: objectPath, headers: headers)
            body = try await current.body.collect(upTo: 256 << 20)
        } catch {
            await upstreamFailed(error, writer: writer)
            return nil
        }
        var forwarded = request
        switch current.status {
        case .ok:
            let identity = Array(body.readableBytesView).withUnsafeBufferPointer { try? JSONIdentityReader.object($0) }
            guard let identity else {
                metrics.add(.filterErrors)
                await refuse(StatusError.internalError("the proxy could not read the object's key from the API server's response"), writer: writer)
                return nil
            }
            guard ShardFence.owns(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: namespaceLabels.lookup) else {
                await refuse(StatusError.forbidden(notOwned(info, identity, mode: mode, spec: spec)), writer: writer)
                return nil
            }
            if info.verb == .delete, info.subresource == nil, let pinned = ShardProxy.pinDelete(request, uid: identity.uid) {
                forwarded = pinned
            }
        case .notFound where info.verb == .update:
            // An update that creates: judge the body as a create.
            guard let identity = ShardProxy.bodyIdentity(request),
                  ShardFence.mayCreate(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: namespaceLabels.lookup) else {
                await refuse(StatusError.forbidden(ShardFence.notOwnedMessage(verb: info.verb, gr: info.groupResource, key: "object \(name)", shard: spec?.shard ?? "(none)")), writer: writer)
                return nil
            }
        default:
            // Not found or not readable: the write fails upstream the same way.
            break
        }
        return forwarded
    }

    /// Adds `preconditions.uid` to a delete so it deletes the object that was judged, not a
    /// namesake created in between.
    static func pinDelete(_ request: ServerRequest, uid: String) -> ServerRequest? {
        guard !uid.isEmpty else { return nil }
        var options: JSON = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if request.body.readableBytes > 0 {
            guard let parsed = try? JSON.parse(request.body.readableBytesView), parsed.objectValue != nil else { return nil }
            options = parsed
        }
        if options["preconditions"]?["uid"] != nil { return nil }
        options.setValue(.string(uid), at: ["preconditions", "uid"])
        var pinned = request
        pinned.body = ByteBuffer(bytes: options.serialized())
        pinned.headers.replaceOrAdd(name: "content-type", value: "application/json")
        pinned.headers.remove(name: "content-length")
        return pinned
    }

    // MARK: Leader-election lock

    func relayRenamedLock(_ request: ServerRequest, info: RequestInfo, lock: ShardSpec.LeaderElectionLock, shard: String,
                          writer: ResponseWriter) async {
        let shardName = LeaderLockRename.shardLockName(lock.name, shard: shard)
        var target = LeaderLockRename.path(request.path, resource: lock.resource, name: lock.name, newName: shardName)
        if !request.rawQuery.isEmpty { target += "?" + request.rawQuery }
        var headers = ShardProxy.upstreamHeaders(request.headers)
        headers.remove(name: "accept-encoding")
        var body: ByteBuffer?
        if request.body.readableBytes > 0 {
            guard var json = try? JSON.parse(request.body.readableBytesView) else {
                return await refuse(StatusError.unsupportedMediaType(request.headers.first(name: "content-type") ?? "none"), writer: writer)
            }
            if json.name == lock.name { json.setMetadata("name", .string(shardName)) }
            body = ByteBuffer(bytes: json.serialized())
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        do {
            let response = try await upstream.send(method: request.method, target: target, headers: headers, body: body)
            let collected = try await response.body.collect(upTo: 16 << 20)
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

    // MARK: Bodies

    /// The identity in a request body (JSON or protobuf), nil when the body cannot be read.
    static func bodyIdentity(_ request: ServerRequest) -> ObjectIdentity? {
        try? readBody(request).get()
    }

    /// The identity in a request body, or the Status the API server would answer for a body
    /// it cannot decode. A body the proxy cannot read is never forwarded unjudged.
    static func readBody(_ request: ServerRequest) -> Result<ObjectIdentity, StatusError> {
        let contentType = request.headers.first(name: "content-type") ?? "application/json"
        let bytes = Array(request.body.readableBytesView)
        do {
            switch BodyFilter.format(contentType: contentType) {
            case .json: return .success(ObjectIdentity(json: try JSON.parse(bytes)))
            case .protobuf: return .success(try ProtobufIdentityReader.envelope(bytes[...]))
            case nil:
                return .failure(StatusError(code: 415, reason: .unsupportedMediaType,
                                            message: "the proxy reads request bodies as application/json or application/vnd.kubernetes.protobuf, not \(contentType)"))
            }
        } catch {
            return .failure(StatusError.badRequest("the request body could not be decoded: \(error)"))
        }
    }

    static func identity(of bytes: [UInt8], contentType: String?) -> ObjectIdentity? {
        switch BodyFilter.format(contentType: contentType ?? "application/json") {
        case .json: bytes.withUnsafeBufferPointer { try? JSONIdentityReader.object($0) }
        case .protobuf: try? ProtobufIdentityReader.envelope(bytes[...])
        case nil: nil
        }
    }
}
