import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KubeClient
import KubeModel
import Logging
import MeshControl
import MeshCore
import MeshHTTP
import OperatorRuntime

/// A mesh manager replica: the gRPC endpoint proxies connect to and the admission webhooks run
/// on every replica; the coordinator (informers, planning, status) runs only while this
/// replica holds the manager Lease. A new leader adopts the assignment the ShardingConfigs'
/// status recorded, and proxies keep their last spec while no manager answers.
public final class ManagerRuntime: Sendable {
    public struct Options: Sendable {
        public var grpcHost: String
        public var grpcPort: Int
        /// HTTPS listener for the admission webhooks (nil: none).
        public var webhookHost: String?
        public var webhookPort: Int?
        public var identity: String
        public var namespace: String
        public var leaseName = "ctrlmesh-manager"
        public var election: (duration: Duration, renewDeadline: Duration, retry: Duration) = (.seconds(15), .seconds(10), .seconds(2))
        /// Added to a member lease's duration before the member is taken for dead.
        public var memberSkew: Duration = .seconds(2)
        public var statusInterval: Duration = .milliseconds(300)
        /// The sidecar the injection webhook adds (nil: no injection webhook).
        public var injection: SidecarInjection?
        /// Register the webhook configurations (and again whenever the CA bundle changes), at
        /// `webhookURL`, else at this replica's own webhook address.
        public var registerWebhooks = false
        /// Also register the write fence (`/fence-writes`) for a real kube-apiserver; the
        /// embedded one fences natively.
        public var registerFenceWebhook = false
        public var webhookURL: String?
        /// How long a webhook certificate is valid; it is renewed with a third left.
        public var webhookCertificateValidity: TimeInterval = 365 * 86400
        /// With a certificate the gRPC endpoint speaks mTLS: proxies must present a certificate
        /// signed by `clientCA`.
        public var grpcTLS: MutualTLSFiles?
        /// Accept sessions that present no token (local runs): by default a session proves the
        /// pod it speaks for with its service-account token.
        public var trustsSessions = false
        /// Serve proxies without TLS (local runs). Otherwise the endpoint speaks TLS: mTLS with
        /// `grpcTLS`, else with the webhook certificate (which the injected proxies trust).
        public var grpcPlaintext = false
        /// HTTP/2 keepalive on proxy sessions: a ping after this long without frames, and the
        /// connection closed when it is not answered within as long again.
        public var keepalive: Duration = .seconds(2)

        public init(grpcHost: String, grpcPort: Int, webhookHost: String? = nil, webhookPort: Int? = nil, identity: String, namespace: String) {
            self.grpcHost = grpcHost
            self.grpcPort = grpcPort
            self.webhookHost = webhookHost
            self.webhookPort = webhookPort
            self.identity = identity
            self.namespace = namespace
        }
    }

    public let options: Options
    let client: RESTClient
    let sessions: ControlSessions
    let grpc: GRPCServer<HTTP2ServerTransport.Posix>
    let serving: Task<Void, Never>
    public let grpcPort: Int
    let webhook: HTTPServer?
    public let webhookCertificates: WebhookCertificates?
    let logger: Logger

    init(options: Options, client: RESTClient, sessions: ControlSessions, grpc: GRPCServer<HTTP2ServerTransport.Posix>,
         serving: Task<Void, Never>, grpcPort: Int, webhook: HTTPServer?, webhookCertificates: WebhookCertificates?, logger: Logger) {
        self.options = options
        self.client = client
        self.sessions = sessions
        self.grpc = grpc
        self.serving = serving
        self.grpcPort = grpcPort
        self.webhook = webhook
        self.webhookCertificates = webhookCertificates
        self.logger = logger
    }

    public var webhookPort: Int? { webhook?.port }

    /// Opens the listeners; `run` then takes part in the election.
    public static func start(_ options: Options, upstream: ClientConfig, logger: Logger = Logger(label: "ctrlmesh.manager")) async throws -> ManagerRuntime {
        let client = RESTClient(config: upstream, qps: nil)
        let sessions = ControlSessions(client: client)
        // The webhook certificate first: without a certificate of its own the gRPC endpoint
        // serves TLS with it.
        var certificates: WebhookCertificates?
        if options.webhookPort != nil {
            let host = options.webhookHost ?? "127.0.0.1"
            var hosts = ["localhost", "127.0.0.1", host]
            if let urlHost = options.webhookURL.flatMap({ URL(string: $0)?.host }) { hosts.append(urlHost) }
            do {
                certificates = try await WebhookCertificates(client: client, namespace: options.namespace, hosts: hosts,
                                                             validity: options.webhookCertificateValidity, logger: logger)
            } catch {
                await client.connection.shutdown()
                throw ManagerError("cannot make the webhook certificate: \(error)")
            }
        }
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let tls = options.grpcTLS {
            security = .mTLS(certificateChain: [.file(path: tls.certificate, format: .pem)],
                             privateKey: .file(path: tls.privateKey, format: .pem)) { config in
                config.trustRoots = .certificates([.file(path: tls.trustedCA, format: .pem)])
                // Proxies are identified by the pod they register as, not by a host name.
                config.clientCertificateVerification = .noHostnameVerification
            }
        } else if options.grpcPlaintext {
            security = .plaintext
        } else if let serving = certificates?.servingPEM {
            // Proxies prove who they are with their tokens; TLS keeps the tokens secret.
            security = .tls(certificateChain: [.bytes(Array(serving.certificate.utf8), format: .pem)],
                            privateKey: .bytes(Array(serving.privateKey.utf8), format: .pem))
        } else {
            await client.connection.shutdown()
            throw ManagerError("the proxies' endpoint needs TLS: a certificate (--grpc-tls-cert), the webhook certificate (--webhook-listen), or --grpc-plaintext for a local run")
        }
        // Proxies hold one long-lived stream each; anything that connects and opens none, or
        // piles up connections, is dropped (`ListenerAdmission`).
        let admission = ListenerAdmission(limits: ConnectionLimits(maxConnections: 2048))
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: options.grpcHost, port: options.grpcPort),
                                                   transportSecurity: security, config: .defaults { config in
            config.connection.maxIdleTime = .seconds(300)
            // A paused or cut-off proxy is noticed by its silence, not only when its lease expires.
            config.connection.keepalive = .init(time: options.keepalive, timeout: options.keepalive,
                                                clientBehavior: .init(minPingIntervalWithoutCalls: .milliseconds(500), allowWithoutCalls: true))
            config.rpc.maxRequestPayloadSize = 1 << 20
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { admission.accept($0) }
            config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { admission.streamOpened($0) }
        })
        let service = MeshControlService { metadata, incoming, outgoing in try await sessions.handle(metadata, incoming, outgoing) }
        let grpc = GRPCServer(transport: transport, services: [service])
        let serving = Task {
            do { try await grpc.serve() } catch { logger.error("gRPC server stopped: \(error)") }
        }
        let port: Int
        do {
            guard let address = try await transport.listeningAddress.ipv4 else { throw ManagerError("gRPC listener has no IPv4 address") }
            port = address.port
        } catch {
            grpc.beginGracefulShutdown()
            await client.connection.shutdown()
            throw ManagerError("cannot listen for proxies on \(options.grpcHost):\(options.grpcPort): \(error)")
        }
        var webhook: HTTPServer?
        if let webhookPort = options.webhookPort, let certificates {
            let host = options.webhookHost ?? "127.0.0.1"
            do {
                var configuration = HTTPServer.Configuration(host: host, port: webhookPort)
                configuration.reloadableTLS = certificates.context
                let injector = options.injection.map { injection in
                    var injection = injection
                    // Injected proxies trust the manager's certificate (unless it brings its own).
                    if options.grpcTLS == nil, !options.grpcPlaintext { injection.managerCAPEM = certificates.caBundlePEM }
                    return SidecarInjector(client: client, injection: injection, logger: logger)
                }
                webhook = try await HTTPServer.start(configuration, responder: AdmissionWebhook(
                    logger: logger, injector: injector, fence: WriteFenceWebhook(client: client, sessions: sessions, logger: logger)))
            } catch {
                grpc.beginGracefulShutdown()
                await client.connection.shutdown()
                throw ManagerError("cannot serve webhooks on \(host):\(webhookPort): \(error)")
            }
        }
        let runtime = ManagerRuntime(options: options, client: client, sessions: sessions, grpc: grpc, serving: serving, grpcPort: port,
                                     webhook: webhook, webhookCertificates: certificates, logger: logger)
        if options.registerWebhooks, let certificates {
            do {
                try await runtime.registerWebhooks(caBundle: certificates.caBundlePEM)
            } catch {
                await runtime.close()
                throw ManagerError("cannot register the webhooks at \(runtime.webhookURL ?? ""): \(error)")
            }
        }
        return runtime
    }

    /// Where the API server reaches the webhooks.
    var webhookURL: String? {
        guard let port = webhook?.port else { return nil }
        return options.webhookURL ?? "https://\(options.webhookHost ?? "127.0.0.1"):\(port)"
    }

    func registerWebhooks(caBundle: String) async throws {
        guard let url = webhookURL else { return }
        try await WebhookRegistration.register(client: client, url: url, caPEM: caBundle, injection: options.injection != nil,
                                               fence: options.registerFenceWebhook)
    }

    /// Campaigns for the manager Lease and coordinates while leading, again and again, and keeps
    /// the webhook certificate fresh, until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.campaign() }
            if let certificates = webhookCertificates {
                group.addTask {
                    let interval = Duration.seconds(min(60, max(1, self.options.webhookCertificateValidity / 10)))
                    await certificates.run(interval: interval) { bundle in
                        guard self.options.registerWebhooks else { return }
                        do {
                            try await self.registerWebhooks(caBundle: bundle)
                        } catch {
                            self.logger.warning("cannot re-register the webhooks with the renewed CA bundle: \(error)")
                        }
                    }
                }
            }
            await group.waitForAll()
        }
    }

    func campaign() async {
        var configuration = LeaderElector.Configuration(namespace: options.namespace, name: options.leaseName, identity: options.identity)
        configuration.leaseDuration = options.election.duration
        configuration.renewDeadline = options.election.renewDeadline
        configuration.retryPeriod = options.election.retry
        let elector = LeaderElector(client: client, configuration: configuration, logger: logger)
        while !Task.isCancelled {
            do {
                try await elector.run { try await self.coordinate(term: UInt64(max(0, elector.term)), leads: { elector.leadsNow }) }
            } catch where !Task.isCancelled {
                logger.error("mesh manager \(options.identity) stopped leading: \(error)")
            } catch {}
            try? await Task.sleep(for: options.election.retry)
        }
    }

    /// The leader's work: informers feed the coordinator, which plans; the clock expires
    /// members; grants are recorded before they are sent; status is written as it changes.
    /// `leads` says whether this replica still leads at this instant: a replica paused past its
    /// renew deadline writes nothing and takes no session when it resumes.
    func coordinate(term: UInt64, leads: @escaping @Sendable () -> Bool) async throws {
        let coordinator = Coordinator(logger: logger, skew: options.memberSkew, trustsSessions: options.trustsSessions, term: term)
        let policies = PolicyBook(logger: logger)
        sessions.leader.withLock { $0 = ControlSessions.Leader(coordinator: coordinator, policies: policies, leads: leads) }
        logger.info("mesh manager \(options.identity) leads; coordinating")
        let (events, sink) = AsyncStream<InformerEvent>.makeStream()
        // The lease informer also serves the status writer's leader column.
        let leases = Informer(client: client, resource: .leases, logger: logger)
        let kusionServed = await serves(MeshConfig.kusionResource)
        var policyResources: [GroupVersionResource] = []
        for resource in PolicyDocument.resources where await serves(resource) {
            policyResources.append(resource)
        }
        let informers = [Informer(client: client, resource: MeshConfig.resource, logger: logger), leases]
            + (kusionServed ? [Informer(client: client, resource: MeshConfig.kusionResource, logger: logger)] : [])
            + policyResources.map { Informer(client: client, resource: $0, logger: logger) }
        for informer in informers {
            let resource = informer.resource
            informer.addHandler { delta in sink.yield(InformerEvent(resource: resource, delta: delta)) }
        }
        await withTaskGroup(of: Void.self) { group in
            for informer in informers { group.addTask { await informer.run() } }
            group.addTask {
                // Configs and leases are all known before the first step, so nothing is planned
                // from a partial view; the marker after the first lists opens the door to proxies.
                for informer in informers { await informer.waitForSync() }
                sink.yield(InformerEvent(resource: .leases, delta: nil))
                for await event in events { await event.apply(to: coordinator, policies: policies) }
            }
            let unserved = PolicyDocument.resources.filter { !policyResources.contains($0) }
            group.addTask { await self.watchPolicyKindsInstalledLater(unserved, sink: sink) }
            group.addTask {
                for informer in informers { await informer.waitForSync() }
                while !Task.isCancelled {
                    await coordinator.tick()
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            group.addTask {
                let recorder = GrantRecorder(client: self.client, logger: self.logger)
                for await (key, grants) in coordinator.grantWrites {
                    await coordinator.grantsRecorded(key: key, await recorder.record(grants, key: key, leads: leads))
                }
            }
            group.addTask {
                let writer = StatusWriter(client: self.client, leases: leases.cache, logger: self.logger)
                let policyWriter = PolicyStatusWriter(client: self.client, identity: self.options.identity, logger: self.logger)
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.options.statusInterval)
                    guard leads() else { continue }
                    await writer.write(await coordinator.takeDirty())
                    await policyWriter.write(await policies.takeDirty())
                }
            }
            await group.waitForAll()
        }
        // No new session reaches this coordinator, and the ones it has end.
        sessions.leader.withLock { $0 = nil }
        await coordinator.shutdown()
        await policies.shutdown()
    }

    /// Whether the API server serves a collection (its CRD is installed and established).
    func serves(_ resource: GroupVersionResource) async -> Bool {
        (try? await client.list(resource, options: RESTClient.ListOptions(limit: 1))) != nil
    }

    /// Policy CRDs installed after this replica began leading: probed every 5 s, and watched
    /// from when they are served (their objects reach the policy book like the others).
    func watchPolicyKindsInstalledLater(_ unserved: [GroupVersionResource], sink: AsyncStream<InformerEvent>.Continuation) async {
        var unserved = unserved
        await withTaskGroup(of: Void.self) { group in
            while !unserved.isEmpty, !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                for resource in unserved where await serves(resource) {
                    unserved.removeAll { $0 == resource }
                    let informer = Informer(client: client, resource: resource, logger: logger)
                    informer.addHandler { delta in sink.yield(InformerEvent(resource: resource, delta: delta)) }
                    logger.info("watching \(resource.resource).\(resource.group), served since this manager began leading")
                    group.addTask { await informer.run() }
                }
            }
            await group.waitForAll()
        }
    }

    public func close() async {
        grpc.beginGracefulShutdown()
        _ = await serving.value
        await webhook?.close()
        await client.connection.shutdown()
    }
}

struct ManagerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One informer delta, routed to the coordinator (or, for fault and breaker policies, the
/// policy book) in arrival order; a nil delta marks the end of the first lists.
struct InformerEvent: Sendable {
    let resource: GroupVersionResource
    let delta: CacheDelta?

    func apply(to coordinator: Coordinator, policies: PolicyBook) async {
        guard let delta else { return await coordinator.startAccepting() }
        if PolicyDocument.resources.contains(resource) {
            switch delta {
            case .added(let object), .updated(_, let object): await policies.upserted(resource: resource, object: object.json)
            case .deleted(let object): await policies.deleted(resource: resource, object: object.json)
            }
            return
        }
        switch delta {
        case .added(let object), .updated(_, let object): await upserted(object, coordinator)
        case .deleted(let object):
            if resource.resource == "shardingconfigs" {
                await coordinator.configDeleted(key: InformerEvent.configKey(resource, object))
            }
        }
    }

    func upserted(_ object: CachedObject, _ coordinator: Coordinator) async {
        if resource.resource == "shardingconfigs" {
            await coordinator.configUpserted(key: InformerEvent.configKey(resource, object), object: object.json)
            return
        }
        let json = object.json
        guard json["metadata"]?["labels"]?[MemberLeaseNames.memberLabel]?.stringValue == "true",
              let pod = json["metadata"]?["annotations"]?[MemberLeaseNames.podAnnotation]?.stringValue else {
            // Perhaps a shard's renamed lock: the leader shown in status may have changed.
            await coordinator.lockChanged(namespace: object.namespace, name: object.name)
            return
        }
        let spec = json["spec"]
        // An int32 in the Lease type; anything past it (from a hostile writer) would overflow the clock.
        let seconds = min(max(spec?["leaseDurationSeconds"]?.intValue ?? 10, 0), Int64(Int32.max))
        await coordinator.leaseObserved(namespace: object.namespace, pod: pod, holder: spec?["holderIdentity"]?.stringValue ?? "",
                                        renewTime: spec?["renewTime"]?.stringValue, duration: .seconds(seconds))
    }

    /// `group/namespace/name`: the two API groups' configs never collide.
    static func configKey(_ resource: GroupVersionResource, _ object: CachedObject) -> String {
        "\(resource.group)/\(object.namespace)/\(object.name)"
    }
}
