import KubeClient
import KubeModel
import Logging
import MeshControl
import MeshHTTP
import NIOSSL

/// A running proxy: the operator-facing listener, the admin listener, the upstream
/// connection and the spec source.
public final class ProxyRuntime: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// TLS for operators that insist on https.
        public var tls: NIOSSLContext?
        public var adminHost: String?
        public var adminPort: Int?
        public var specFile: String?
        /// Take specs from the mesh manager instead of a file.
        public var mesh: Mesh?
        /// Stamp requests sent upstream with the proxy's judgement of them (`X-Ctrlmesh-Judged`).
        public var stampJudgements = false
        /// Requests in flight to the API server at once (watches included); past it, 429.
        public var maxInFlight = 1024
        /// Serve the requests whose decision needs no I/O on the event loop (`ShardRouter`);
        /// off, every request takes the async executor (for measuring one against the other).
        public var inlineDataPath = true
        /// The user a stamped write impersonates (the operator's service account).
        public var writerIdentity = "system:serviceaccount:default:default"
        /// The longest an admitted write may wait in the proxy before it leaves.
        public var maxWriteAge: Duration = .seconds(5)

        public init(host: String, port: Int, tls: NIOSSLContext? = nil, adminHost: String? = nil, adminPort: Int? = nil,
                    specFile: String? = nil, mesh: Mesh? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
            self.adminHost = adminHost
            self.adminPort = adminPort
            self.specFile = specFile
            self.mesh = mesh
        }
    }

    /// Who this proxy is in the mesh and where the managers are.
    public struct Mesh: Sendable {
        public var managers: [ManagerSession.Target]
        public var podName: String
        public var podNamespace: String
        public var lease: MemberLease.Timings
        public var tls: ManagerTLS?
        /// The service-account token (bound to this pod) the session proves the pod with; re-read
        /// for every session, as the kubelet rotates it. Nil: the session proves nothing.
        public var tokenFile: String?

        public init(managers: [ManagerSession.Target], podName: String, podNamespace: String, lease: MemberLease.Timings = .init(),
                    tls: ManagerTLS? = nil) {
            self.managers = managers
            self.tls = tls
            self.podName = podName
            self.podNamespace = podNamespace
            self.lease = lease
        }
    }

    let state: ShardState
    let upstream: APIConnection
    let server: HTTPServer
    let admin: HTTPServer?
    let specSource: SpecFileSource?
    let session: ManagerSession?
    let namespaceLabels: NamespaceLabelCache
    let options: Options
    let logger: Logger

    public var port: Int { server.port }
    public var adminPort: Int? { admin?.port }

    init(state: ShardState, upstream: APIConnection, server: HTTPServer, admin: HTTPServer?,
         specSource: SpecFileSource?, session: ManagerSession?, namespaceLabels: NamespaceLabelCache, options: Options, logger: Logger) {
        self.session = session
        self.state = state
        self.upstream = upstream
        self.server = server
        self.admin = admin
        self.specSource = specSource
        self.namespaceLabels = namespaceLabels
        self.options = options
        self.logger = logger
    }

    public static func start(_ options: Options, upstream config: ClientConfig,
                             logger: Logger = Logger(label: "ctrlmesh.proxy")) async throws -> ProxyRuntime {
        let state = ShardState(maxWriteAge: options.maxWriteAge)
        let metrics = ProxyMetrics()
        let upstream = APIConnection(config: config)
        let namespaceLabels = NamespaceLabelCache()
        let specSource = options.specFile.map(SpecFileSource.init(path:))
        let policies = PolicyFilter(logger: logger)
        let session = options.mesh.map { mesh in
            let lease = MemberLease(client: RESTClient(connection: upstream, qps: nil), namespace: mesh.podNamespace,
                                    pod: mesh.podName, timings: mesh.lease, logger: logger)
            // A write leaves only while the lease is valid: by the time the manager takes this
            // member for dead, nothing it admitted can still be sent.
            state.requireLease { lease.isValid }
            return ManagerSession(targets: mesh.managers, tls: mesh.tls, tokenFile: mesh.tokenFile, state: state, policies: policies,
                                  metrics: metrics, lease: lease, logger: logger)
        }
        guard let endpoint = UpstreamPool.Endpoint(server: upstream.config.server, tls: upstream.config.tls) else {
            await upstream.shutdown()
            throw ProxyStartError("the API server address \(upstream.config.server) is not an http:// or https:// URL the proxy can connect to")
        }
        let proxy = ShardProxy(upstream: upstream, pool: UpstreamPool(endpoint: endpoint), state: state, namespaceLabels: namespaceLabels,
                               metrics: metrics, policies: policies, stampsJudgements: options.stampJudgements,
                               maxInFlight: options.maxInFlight, writerIdentity: options.writerIdentity, logger: logger)
        let server: HTTPServer
        do {
            var configuration = HTTPServer.Configuration(host: options.host, port: options.port, tls: options.tls, respondOnEventLoop: true)
            if options.inlineDataPath { configuration.inlineRouter = ShardRouter(proxy: proxy) }
            server = try await HTTPServer.start(configuration, responder: proxy)
        } catch {
            await upstream.shutdown()
            throw error
        }
        var admin: HTTPServer?
        if let adminPort = options.adminPort {
            do {
                admin = try await HTTPServer.start(.init(host: options.adminHost ?? "127.0.0.1", port: adminPort),
                                                   responder: AdminResponder(state: state, metrics: metrics, policies: policies, specSource: specSource,
                                                                             session: session))
            } catch {
                await server.close()
                await upstream.shutdown()
                throw error
            }
        }
        return ProxyRuntime(state: state, upstream: upstream, server: server, admin: admin,
                            specSource: specSource, session: session, namespaceLabels: namespaceLabels, options: options, logger: logger)
    }

    /// Runs the spec source (a file, or the manager session with its liveness lease) and the
    /// namespace label cache until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let specSource {
                group.addTask { await specSource.run(state: self.state, logger: self.logger) }
            }
            if let session {
                group.addTask { await session.lease.run { await self.state.fence() } }
                group.addTask { await session.run() }
            }
            group.addTask { await self.namespaceLabels.run(upstream: self.upstream, state: self.state, logger: self.logger) }
            await group.waitForAll()
        }
    }

    /// The kubeconfig an operator uses to reach the API server through this proxy. Its token
    /// is a local placeholder (client-go prompts for a password on https without one) that the
    /// proxy replaces with its own credentials.
    public func operatorKubeconfig() -> String {
        let scheme = options.tls == nil ? "http" : "https"
        let host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host
        let tlsLine = options.tls == nil ? "" : "\n    insecure-skip-tls-verify: true"
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: ctrlmesh-proxy
              cluster:
                server: \(scheme)://\(host):\(port)\(tlsLine)
            contexts:
            - name: ctrlmesh-proxy
              context:
                cluster: ctrlmesh-proxy
                user: operator
                namespace: default
            current-context: ctrlmesh-proxy
            users:
            - name: operator
              user:
                token: \(ShardProxy.localToken)

            """
    }

    /// Leaves the mesh: fences (waiting for admitted writes), then releases the liveness lease
    /// so the manager hands this member's keys over without waiting for expiry. Call after
    /// cancelling `run` and before `close`.
    public func leaveMesh() async {
        guard let session else { return }
        await state.fence()
        await session.lease.release()
    }

    public func close() async {
        await server.close()
        await admin?.close()
        await upstream.shutdown()
    }
}

/// Why the proxy could not start, in one line.
public struct ProxyStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
