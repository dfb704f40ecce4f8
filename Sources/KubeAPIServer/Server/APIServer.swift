import KubeHTTP
import KubeModel
import Logging
import MeshHTTP
import NIOCore
import NIOHTTP1
import Synchronization

/// The embedded Kubernetes API server: routes every request to discovery, OpenAPI, health or
/// the REST handlers, and turns every error into a Kubernetes `Status`.
public final class APIServer: HTTPResponder {
    public struct Options: Sendable {
        /// How often a watch that asked for bookmarks gets one.
        public var bookmarkInterval: Duration = .seconds(60)
        /// `serverAddressByClientCIDRs` in `/api` (host:port clients use).
        public var serverAddress: String = "127.0.0.1:6443"
        public var maxBodyBytes: Int = 3 * 1024 * 1024
        public var webhookTimeout: Duration = .seconds(10)
        /// Compare each proxy's `X-Ctrlmesh-Judged` stamp with this server's routing.
        public var checkJudgements = false
        /// Judges mesh proxies' stamped writes as they commit, refusing one stamped with an
        /// epoch older than its keys' grants (`StampedWriteFence`). Nil: writes land unjudged,
        /// as on a cluster that relies on the manager's fence webhook alone.
        public var writeFence: StampedCommitJudge?
        /// The key service-account tokens are signed with (nil: a random one, for this process).
        public var tokenSigningKey: [UInt8]?
        /// Waited before each request is served: a remote API server's round trip, emulated for
        /// benchmarks (the kernels here have no netem). A watch waits it once, before its
        /// stream begins. Zero by default.
        public var requestLatency: Duration = .zero
        public init() {}
    }

    public let registry: ResourceRegistry
    public let store: ObjectStore
    public let options: Options
    let admission: AdmissionChain
    let requests = RequestCounter()
    /// Writes stamped by mesh proxies, for the ownership audit.
    public let writeAudit: WriteAudit
    /// Proxies' classifications against this server's routing (`checkJudgements`).
    public let judgements = JudgementAudit()
    let meshFence: StampedWriteFence?
    let tokens: ServiceAccountTokens
    let logger: Logger
    private let garbageCollection = Mutex<Task<Void, Never>?>(nil)

    public init(store: ObjectStore, options: Options = Options(), logger: Logger = Logger(label: "ctrlmesh.apiserver")) throws {
        self.registry = ResourceRegistry()
        self.store = store
        self.options = options
        self.logger = logger
        self.admission = AdmissionChain(store: store, timeout: options.webhookTimeout, logger: logger)
        self.writeAudit = WriteAudit(store: store)
        self.tokens = ServiceAccountTokens(key: options.tokenSigningKey)
        meshFence = options.writeFence.map(StampedWriteFence.init(judge:))
        if let meshFence {
            store.guardCommits { gr, existing, new, lookup in try meshFence.check(gr, existing: existing, new: new, lookup: lookup) }
        }
        try bootstrap()
        let collector = GarbageCollector(store: store)
        garbageCollection.withLock { $0 = Task { await collector.run(server: self) } }
    }

    /// Stops background work (the garbage collector).
    public func stop() {
        garbageCollection.withLock { $0?.cancel() }
    }

    /// Seeds the namespaces every cluster has and registers persisted CRDs.
    func bootstrap() throws {
        for crd in store.list(CRDLifecycle.crdResource).items {
            registry.setCustom(crdName: crd.name, resources: CRDLifecycle.resources(of: crd.json))
        }
        let namespaces = GroupResource(group: "", resource: "namespaces")
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] where store.get(namespaces, ObjectKey(namespace: "", name: name)) == nil {
            var ns: JSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name), "labels": ["kubernetes.io/metadata.name": .string(name)]],
                            "spec": ["finalizers": ["kubernetes"]]]
            ObjectRules.prepareCreate(&ns, info: registry.lookup(group: "", version: "v1", plural: "namespaces")!, now: Timestamp.now())
            try store.commit(namespaces, ObjectKey(namespace: "", name: name), .put(ns), precondition: .mustNotExist)
        }
    }

    public func respond(to request: ServerRequest, writer: ResponseWriter) async {
        do {
            if request.bodyTooLarge { throw StatusError.tooLarge(limit: options.maxBodyBytes) }
            if options.requestLatency > .zero { try await Task.sleep(for: options.requestLatency) }
            try await route(request, writer: writer)
        } catch let error as StatusError {
            if !writer.headSent { await writer.respond(error) }
        } catch {
            if writer.headSent {
                // Mid-stream (a watch whose client went away): nothing left to tell the client.
                logger.debug("stream ended", metadata: ["uri": "\(request.uri)", "error": "\(error)"])
            } else {
                logger.error("request failed", metadata: ["uri": "\(request.uri)", "error": "\(error)"])
                await writer.respond(StatusError.internalError("\(error)"))
            }
        }
    }

    func route(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let target: RequestTarget
        do {
            target = try RequestTarget.parse(request.uri)
        } catch {
            throw StatusError.badRequest("invalid request target: \(error.message)")
        }
        let path = target.path
        let discovery = Discovery(registry: registry, serverAddress: options.serverAddress).document(for: target.segments)
        let info = RequestInfo.classify(method: request.method.rawValue, target: target)
        if options.checkJudgements, let stamp = request.headers.first(name: Judgement.header) {
            judgements.check(stamp: stamp, routed: APIServer.routing(method: request.method.rawValue, target: target),
                             method: request.method.rawValue, target: request.uri)
        }
        if case .nonResource? = APIServer.routing(method: request.method.rawValue, target: target),
           request.method != .GET, request.method != .HEAD {
            throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        switch path {
        case "/healthz", "/readyz", "/livez":
            await writer.respond(status: .ok, headers: ["content-type": "text/plain; charset=utf-8"], body: Array("ok".utf8))
            return
        case "/metrics":
            await writer.respond(status: .ok, headers: ["content-type": "text/plain; version=0.0.4"], body: Array((requests.exposition() + (meshFence?.exposition ?? "")).utf8))
            return
        case "/debug/ctrlmesh/writes":
            return await writeJSON(writeAudit.json(), writer: writer)
        case "/debug/ctrlmesh/judgements":
            return await writeJSON(judgements.json(), writer: writer)
        default:
            break
        }
        if let discovery { return await writeJSON(discovery, writer: writer) }
        if target.segments.first == "openapi" {
            guard let document = OpenAPIDocuments(registry: registry).document(for: target.segments) else {
                throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
            }
            return await writeJSON(document, writer: writer)
        }
        guard let info else {
            if RequestInfo.methodNotAllowed(method: request.method.rawValue, target: target) {
                throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource")
            }
            throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        requests.count(info)
        let resource = try resolve(info)
        let context = RequestContext(request: request, info: info, resource: resource, query: target.query)
        try QueryOptions.check(context)
        let user = try RequestUser.of(headers: request.headers)
        // Every commit a stamped request makes, subresources' included, is judged by the mesh
        // fence and recorded by the write audit under its stamp.
        switch WriterStamp.read(extras: user.extra) {
        case .none:
            try await RequestUser.$current.withValue(user) { try await serve(context, writer: writer) }
        case .invalid(let reason):
            throw StatusError.forbidden("the mesh fence refused the request: \(reason)")
        case .stamp(let stamp):
            try await RequestUser.$current.withValue(user) {
                try await StampedWriteFence.$stamp.withValue(stamp) { try await serve(context, writer: writer) }
            }
        }
    }

    /// What this router serves a parsed target as, in the terms a proxy's judgement uses:
    /// health, metrics, version, discovery-shaped paths (whether or not the group exists: an
    /// unknown one is discovery's 404) and OpenAPI are non-resource requests; anything else is
    /// the resource request it classifies as, or nothing (404).
    public static func routing(method: String, target: RequestTarget) -> Judgement? {
        let segments = target.segments
        let discoveryShaped = (segments.first == "api" && segments.count <= 2) || (segments.first == "apis" && segments.count <= 3)
        if ["/healthz", "/readyz", "/livez", "/metrics", "/version"].contains(target.path) || discoveryShaped || segments.first == "openapi" {
            return .nonResource(path: target.path)
        }
        return RequestInfo.classify(method: method, target: target).map { .resource($0) }
    }

    func serve(_ context: RequestContext, writer: ResponseWriter) async throws {
        let info = context.info
        if info.verb == .create, context.resource.groupResource == Self.podsResource, info.subresource == "eviction" || info.subresource == "binding" {
            return try await info.subresource == "eviction" ? evict(context, writer: writer) : bind(context, writer: writer)
        }
        if context.resource.groupResource == Self.tokenReviewsResource {
            guard info.verb == .create else { throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource") }
            return try await reviewToken(context, writer: writer)
        }
        if context.resource.groupResource == Self.serviceAccountsResource, info.subresource == "token" {
            return try await requestToken(context, writer: writer)
        }
        if info.subresource == "scale", let scale = context.resource.scale {
            return try await serveScale(context, scale, writer: writer)
        }
        switch info.verb {
        case .get: try await get(context, writer: writer)
        case .list: try await list(context, writer: writer)
        case .watch: try await watch(context, writer: writer)
        case .create: try await create(context, writer: writer)
        case .update: try await update(context, writer: writer)
        case .patch: try await patch(context, writer: writer)
        case .delete: try await delete(context, writer: writer)
        case .deletecollection: try await deleteCollection(context, writer: writer)
        }
    }

    /// Finds the served resource and checks the scope and subresource of the path.
    func resolve(_ info: RequestInfo) throws(StatusError) -> ResourceInfo {
        guard let resource = registry.lookup(group: info.group, version: info.version, plural: info.resource) else {
            throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        // Subresources created by a POST of another kind: a pod's eviction and binding, a service
        // account's token.
        let postAction = (resource.groupResource == Self.podsResource && (info.subresource == "eviction" || info.subresource == "binding"))
            || (resource.groupResource == Self.serviceAccountsResource && info.subresource == "token")
        if let sub = info.subresource, !(sub == "status" && resource.hasStatus), !(sub == "scale" && resource.scale != nil), !postAction {
            throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if postAction, info.verb != .create {
            throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        if !resource.namespaced, info.namespace != nil {
            throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if resource.namespaced, info.namespace == nil, info.verb != .list, info.verb != .watch {
            throw StatusError(code: 404, reason: .notFound, message: "the server could not find the requested resource")
        }
        if info.subresource != nil, !postAction, info.verb != .get, info.verb != .update, info.verb != .patch {
            throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        return resource
    }

    func writeJSON(_ json: JSON, status: HTTPResponseStatus = .ok, writer: ResponseWriter) async {
        await writer.respond(status: status, headers: ["content-type": "application/json"], body: json.serialized())
    }

    func writeJSONBytes(_ bytes: [UInt8], status: HTTPResponseStatus = .ok, writer: ResponseWriter) async {
        await writer.respond(status: status, headers: ["content-type": "application/json"], body: bytes)
    }
}

/// One resource request, parsed.
struct RequestContext: Sendable {
    var request: ServerRequest
    var info: RequestInfo
    var resource: ResourceInfo
    var query: QueryParameters

    var gr: GroupResource { resource.groupResource }
    var key: ObjectKey { ObjectKey(namespace: resource.namespaced ? (info.namespace ?? "") : "", name: info.name ?? "") }

    /// The client asked for `meta.k8s.io` Table output (kubectl's human printing).
    var wantsTable: Bool {
        request.headers[canonicalForm: "accept"].contains { $0.contains("as=Table") }
    }

    func body() throws(StatusError) -> JSON {
        if let type = request.headers.first(name: "content-type")?.lowercased() {
            // kubectl's typed create commands send protobuf for built-in kinds.
            if type.hasPrefix("application/vnd.kubernetes.protobuf") {
                do {
                    return try KubernetesProtobuf.decode(Array(request.body.readableBytesView))
                } catch {
                    throw StatusError(code: 415, reason: .unsupportedMediaType, message: error.description)
                }
            }
            // CBOR gets 415, on which client-go falls back to JSON.
            if type.contains("cbor") || type.contains("yaml") {
                throw StatusError(code: 415, reason: .unsupportedMediaType,
                                  message: "the body of the request was in an unknown format - accepted media types include: application/json, application/vnd.kubernetes.protobuf")
            }
        }
        do {
            return try JSON.parse(request.body.readableBytesView)
        } catch {
            throw StatusError.badRequest("error decoding request body: \(error)")
        }
    }

    /// The body of a create or update: an object whose metadata decodes.
    func objectBody() throws(StatusError) -> JSON {
        let object = try body()
        if let problem = ObjectMetaCheck.decodeError(object) { throw StatusError.badRequest("error decoding request body: \(problem)") }
        return object
    }

    func checkDryRun() throws(StatusError) -> Bool {
        if let v = query["dryRun"], v != "All" {
            throw StatusError.badRequest("Invalid dryRun value \"\(v)\": supported values are \"All\"")
        }
        return query.dryRun
    }
}
