import KubeClient
import KubeModel
import Logging
import MeshHTTP
import ServiceLifecycle
import Synchronization

/// Runs an operator: shared informers, controllers and their workers, optional leader
/// election, and a health and metrics listener. It is a swift-service-lifecycle `Service`: on
/// SIGTERM the queues stop taking keys, in-flight reconciles finish, the informers stop and
/// the Lease is released, so a standby takes over at once.
public final class Manager: Service, Sendable {
    public struct Options: Sendable {
        /// Elect a leader over this Lease before starting controllers.
        public var leaderElection: LeaderElector.Configuration?
        /// Serve `/healthz`, `/readyz` and `/metrics` here (port 0 picks one).
        public var healthListen: (host: String, port: Int)?
        public var resyncPeriod: Duration?
        /// Told when this process starts (true) and stops (false) leading.
        public var onLeadershipChange: (@Sendable (Bool) -> Void)?

        public init(leaderElection: LeaderElector.Configuration? = nil, healthListen: (host: String, port: Int)? = nil,
                    resyncPeriod: Duration? = nil, onLeadershipChange: (@Sendable (Bool) -> Void)? = nil) {
            self.leaderElection = leaderElection
            self.healthListen = healthListen
            self.resyncPeriod = resyncPeriod
            self.onLeadershipChange = onLeadershipChange
        }
    }

    public let client: RESTClient
    public let informers: InformerFactory
    public let metrics = RuntimeMetrics()
    public let options: Options
    let logger: Logger
    private let stopSignal = Latch()
    private let registered = Mutex<[(controller: Controller, primary: Informer, owned: [Informer])]>([])
    private let started = Mutex<(health: HTTPServer?, elector: LeaderElector?)>((nil, nil))

    public init(client: RESTClient, options: Options = Options(), logger: Logger = Logger(label: "ctrlmesh.manager")) {
        self.client = client
        self.options = options
        self.logger = logger
        informers = InformerFactory(client: client, resyncPeriod: options.resyncPeriod, logger: logger)
    }

    /// Registers a controller; its informers are shared with every other controller's.
    @discardableResult
    public func addController(_ controllerOptions: Controller.Options, reconcile: @escaping Reconcile) -> Controller {
        let controller = Controller(options: controllerOptions, reconcile: reconcile, metrics: metrics, logger: logger)
        let primary = informers.informer(for: controllerOptions.forResource)
        let owned = controllerOptions.owns.map { informers.informer(for: $0) }
        registered.withLock { $0.append((controller, primary, owned)) }
        return controller
    }

    /// The port of the health listener, once running.
    public var healthPort: Int? { started.withLock { $0.health?.port } }

    /// Ready once every informer has synced; a standby waiting for leadership runs no
    /// informers and is ready as it is (a rollout must not wait for it to lead).
    public var isReady: Bool {
        if let elector = started.withLock({ $0.elector }), !elector.isLeader { return true }
        return informers.all.allSatisfy(\.hasSynced)
    }

    public var isLeader: Bool { started.withLock { $0.elector }?.isLeader ?? true }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.runUntilStopped()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Begins a graceful stop (what SIGTERM does).
    public func stop() {
        logger.info("stopping: finishing in-flight reconciles")
        stopSignal.fire()
        for entry in registered.withLock({ $0 }) { entry.controller.queue.shutDown() }
    }

    private func runUntilStopped() async throws {
        var health: HTTPServer?
        if let listen = options.healthListen {
            health = try await HTTPServer.start(.init(host: listen.host, port: listen.port), responder: HealthResponder(manager: self))
            started.withLock { $0.health = health }
        }
        do {
            try await runElected()
        } catch {
            await health?.close()
            throw error
        }
        await health?.close()
    }

    /// Runs the controllers, behind leader election when it is configured.
    private func runElected() async throws {
        guard let election = options.leaderElection else {
            return await runControllers()
        }
        let leaderGauge = metrics.leaderStatus(election.name)
        let notify = options.onLeadershipChange
        let elector = LeaderElector(client: client, configuration: election, logger: logger) { leading in
            leaderGauge.set(to: leading ? 1 : 0)
            notify?(leading)
        }
        started.withLock { $0.elector = elector }
        enum Outcome: Sendable { case electorDone, stopRequested }
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                try await elector.run { await self.runControllers() }
                return .electorDone
            }
            group.addTask {
                await self.stopSignal.wait()
                return .stopRequested
            }
            while let outcome = try await group.next() {
                // A stop while waiting for leadership ends the wait at once; while leading, the
                // controllers wind down and the elector releases the Lease before returning.
                if outcome == .electorDone || !elector.isLeader {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// Starts the informers, waits for them to sync, runs the workers until stopped, then
    /// stops the informers.
    private func runControllers() async {
        let entries = registered.withLock { $0 }
        for entry in entries { entry.controller.watch(primary: entry.primary, owned: entry.owned) }
        let all = informers.all
        for informer in all {
            let gauge = metrics.cachedObjects("\(informer.resource.groupResource)")
            informer.addHandler { [cache = informer.cache] _ in gauge.set(to: Double(cache.count)) }
        }
        await withTaskGroup(of: Void.self) { informerGroup in
            for informer in all { informerGroup.addTask { await informer.run() } }
            await withTaskGroup(of: Void.self) { waitGroup in
                waitGroup.addTask { for informer in all { await informer.waitForSync() } }
                waitGroup.addTask { await self.stopSignal.wait() }
                await waitGroup.next()
                waitGroup.cancelAll()
            }
            if !stopSignal.fired {
                logger.info("caches synced; starting workers", metadata: ["controllers": "\(entries.count)"])
                await withTaskGroup(of: Void.self) { workers in
                    for entry in entries { workers.addTask { await entry.controller.runWorkers(gate: self.informers.relistGate) } }
                }
            }
            informerGroup.cancelAll()
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics` for the operator.
struct HealthResponder: HTTPResponder {
    let manager: Manager

    func respond(to request: ServerRequest, writer: ResponseWriter) async {
        switch request.path {
        case "/healthz", "/livez":
            await writer.respond(status: .ok, headers: ["content-type": "text/plain"], body: Array("ok".utf8))
        case "/readyz":
            let ready = manager.isReady
            await writer.respond(status: ready ? .ok : .serviceUnavailable, headers: ["content-type": "text/plain"],
                                 body: Array((ready ? "ok" : "informers not synced").utf8))
        case "/metrics":
            await writer.respond(status: .ok, headers: ["content-type": "text/plain; version=0.0.4"], body: manager.metrics.exposition())
        default:
            await writer.respond(status: .notFound, headers: ["content-type": "text/plain"], body: Array("not found\n".utf8))
        }
    }
}
