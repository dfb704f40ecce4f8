import GRPCCore
import GRPCNIOTransportHTTP2
import KubeModel
import Logging
import MeshControl
import MeshCore
import MeshHTTP
import Foundation
import Synchronization

/// The proxy's side of the manager protocol: one session at a time with a manager, opened
/// only while the liveness lease is valid. It registers with the spec in force, applies each
/// spec it is sent, then acknowledges its epoch. Specs are applied one after another inside
/// the session, so a session never ends with an apply half done, and nothing from an ended
/// session is applied later. With no manager reachable the last spec stays in force.
public final class ManagerSession: Sendable {
    public struct Target: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    let targets: [Target]
    /// TLS to the manager (nil: plaintext, a local run).
    let tls: ManagerTLS?
    /// The pod-bound service-account token the session proves the pod with.
    let tokenFile: String?
    let state: ShardState
    let policies: PolicyFilter
    let metrics: ProxyMetrics
    let lease: MemberLease
    let heartbeat: Duration
    /// HTTP/2 keepalive: a ping after this long without frames, the connection closed when it
    /// is not answered within as long again (a paused or cut-off manager is left, and the next
    /// address tried).
    let keepalive: Duration
    let logger: Logger
    let current = Mutex<String>("not connected")

    public init(targets: [Target], tls: ManagerTLS? = nil, tokenFile: String? = nil, state: ShardState, policies: PolicyFilter,
                metrics: ProxyMetrics, lease: MemberLease, heartbeat: Duration = .seconds(2), keepalive: Duration = .seconds(2), logger: Logger) {
        precondition(!targets.isEmpty)
        self.tokenFile = tokenFile
        self.keepalive = keepalive
        self.targets = targets
        self.tls = tls
        self.state = state
        self.policies = policies
        self.metrics = metrics
        self.lease = lease
        self.heartbeat = heartbeat
        self.logger = logger
    }

    /// What the session is doing, for the status endpoint.
    public var status: String { current.withLock { $0 } }

    struct SessionEnded: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects, and reconnects with backoff (100 ms doubling to 2 s, trying each manager
    /// address in turn), until cancelled, or until a manager refuses to take the session for
    /// the pod it names (the pod is gone, or replaced, or the token is not its): then the
    /// proxy is no member at all. It fences, gives its lease up and stops renewing it, so the
    /// manager hands its keys to others at once.
    public func run() async {
        var attempt = 0
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            await lease.waitUntilValid()
            if Task.isCancelled { return }
            let target = targets[attempt % targets.count]
            attempt += 1
            let started = ContinuousClock.now
            do {
                try await session(target)
            } catch let error as RPCError where error.code == .unauthenticated || error.code == .permissionDenied {
                current.withLock { $0 = "refused by \(target): \(error.message); fenced, no longer a member" }
                logger.error("manager \(target) refused the session: \(error.message); fencing and leaving the mesh")
                await Task { await state.fence() }.value
                await lease.retire()
                return
            } catch {
                current.withLock { $0 = "disconnected from \(target): \(error)" }
                logger.info("manager session with \(target) ended: \(error)")
            }
            // A session that lasted resets the backoff; one that failed at once doubles it.
            backoff = ContinuousClock.now - started > .seconds(10) ? .milliseconds(100) : min(backoff * 2, .seconds(2))
            try? await Task.sleep(for: backoff)
        }
    }

    func session(_ target: Target) async throws {
        // An address literal is not a name: it must not go out as TLS SNI.
        let resolvable: any ResolvableTarget = switch IPAddressBytes(target.host)?.bytes.count {
        case 4: .ipv4(host: target.host, port: target.port)
        case 16: .ipv6(host: target.host, port: target.port)
        default: .dns(host: target.host, port: target.port)
        }
        let metadata = try credentials()
        let transport = try HTTP2ClientTransport.Posix(target: resolvable, transportSecurity: transportSecurity, config: .defaults { config in
            config.connection.keepalive = .init(time: keepalive, timeout: keepalive, allowWithoutCalls: true)
        })
        try await withGRPCClient(transport: transport) { client in
            let (outgoing, writer) = AsyncStream<ProxyMessage>.makeStream()
            defer {
                writer.finish()
                policies.detach()
            }
            writer.yield(.register(pod: lease.pod, namespace: lease.namespace, applied: state.spec))
            let request = StreamingClientRequest<ProxyMessage>(metadata: metadata) { stream in
                for await message in outgoing { try await stream.write(message) }
            }
            try await client.bidirectionalStreaming(request: request, descriptor: MeshControl.connect,
                                                    serializer: JSONMessageSerializer<ProxyMessage>(),
                                                    deserializer: JSONMessageDeserializer<ManagerMessage>(),
                                                    options: .defaults) { response in
                self.current.withLock { $0 = "connected to \(target)" }
                self.policies.attach(writer)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in response.messages { try await self.handle(message, reply: writer) }
                        throw SessionEnded(description: "the manager closed the session")
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: self.heartbeat)
                            writer.yield(.heartbeat)
                        }
                    }
                    group.addTask {
                        // Policy counters and breaker states, as they change; the sharded calls
                        // answered since the last report (this session's only).
                        var sent = self.metrics.shardedCallCounts()
                        while true {
                            if let reports = self.policies.changedReports() { writer.yield(.report(reports)) }
                            let now = self.metrics.shardedCallCounts()
                            if now != sent { writer.yield(.traffic(requests: now.calls - sent.calls, errors: now.errors - sent.errors)) }
                            sent = now
                            try await Task.sleep(for: .milliseconds(250))
                        }
                    }
                    group.addTask {
                        // A lapsed lease has fenced the proxy: report afresh once it is back.
                        while self.lease.isValid { try await Task.sleep(for: .milliseconds(50)) }
                        throw SessionEnded(description: "the member lease lapsed")
                    }
                    defer { group.cancelAll() }
                    try await group.next()
                }
            }
        }
    }

    /// The session's credentials: the pod-bound token, read afresh (the kubelet rotates it).
    func credentials() throws -> Metadata {
        guard let tokenFile else { return [:] }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw SessionEnded(description: "cannot read the service-account token \(tokenFile): \(error)")
        }
        guard !token.isEmpty else { throw SessionEnded(description: "the service-account token \(tokenFile) is empty") }
        return [MeshControl.authorization: .string("Bearer \(token)")]
    }

    var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        switch tls {
        case nil:
            return .plaintext
        case .mutual(let files):
            return .mTLS(certificateChain: [.file(path: files.certificate, format: .pem)], privateKey: .file(path: files.privateKey, format: .pem)) {
                $0.trustRoots = .certificates([.file(path: files.trustedCA, format: .pem)])
                $0.serverCertificateVerification = .fullVerification
            }
        case .verifyingServer(let pem):
            return .tls {
                $0.trustRoots = .certificates([.bytes(Array(pem.utf8), format: .pem)])
                $0.serverCertificateVerification = .fullVerification
            }
        }
    }

    func handle(_ message: ManagerMessage, reply: AsyncStream<ProxyMessage>.Continuation) async throws {
        switch message {
        case .spec(let spec):
            guard lease.isValid else { throw SessionEnded(description: "the member lease lapsed before epoch \(spec.epoch)") }
            logger.info("applying shard spec \(spec.shard) epoch \(spec.epoch) from the manager")
            // Not cancellable: an apply runs to its end so the next session reports the truth.
            await Task { await state.apply(spec) }.value
            guard lease.isValid else {
                await Task { await state.fence() }.value
                throw SessionEnded(description: "the member lease lapsed while applying epoch \(spec.epoch)")
            }
            reply.yield(.ack(epoch: spec.epoch))
            current.withLock { $0 = "connected; shard \(spec.shard) epoch \(spec.epoch) applied" }
        case .unassigned(let reason):
            await Task { await state.fence() }.value
            reply.yield(.fenced)
            current.withLock { $0 = "connected; unassigned: \(reason)" }
        case .heartbeat:
            break
        case .policies(let objects):
            policies.load(objects)
        case .grant(let id, let retryAfter):
            policies.granted(id, retryAfter: retryAfter)
        }
    }
}
