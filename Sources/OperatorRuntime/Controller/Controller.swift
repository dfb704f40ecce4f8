import KubeModel
import Logging
import Prometheus

/// The key a reconcile works on.
public struct ReconcileRequest: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { CachedObject.key(namespace: namespace, name: name) }
}

/// What a reconcile asks for next.
public struct ReconcileResult: Sendable {
    /// Reconcile the key again after this long (e.g. to wait for pods to become ready).
    public var requeueAfter: Duration?

    public init(requeueAfter: Duration? = nil) {
        self.requeueAfter = requeueAfter
    }

    public static let done = ReconcileResult()
}

public typealias Reconcile = @Sendable (ReconcileRequest) async throws -> ReconcileResult

/// One controller: a work queue fed by the informer of the resource it is `for` and of the
/// resources it `owns` (mapped to their controller owner), drained by `workers` concurrent
/// workers calling `reconcile`. A key is never reconciled by two workers at once; a failed
/// reconcile is retried with per-key exponential backoff.
public final class Controller: Sendable {
    public struct Options: Sendable {
        public var name: String
        /// The primary resource and its kind (owned objects name their owner by kind).
        public var forResource: GroupVersionResource
        public var forKind: String
        /// Resources whose changes reconcile their controller owner.
        public var owns: [GroupVersionResource] = []
        public var workers = 1

        public init(name: String, for resource: GroupVersionResource, kind: String, owns: [GroupVersionResource] = [], workers: Int = 1) {
            self.name = name
            self.forResource = resource
            self.forKind = kind
            self.owns = owns
            self.workers = workers
        }
    }

    public let options: Options
    public let queue: WorkQueue<ReconcileRequest>
    let reconcile: Reconcile
    let logger: Logger
    let reconcileTime: DurationHistogram
    let successes: Counter
    let errors: Counter
    let failures: Counter
    let retries: Counter
    let requeues: Counter

    init(options: Options, reconcile: @escaping Reconcile, metrics: RuntimeMetrics, logger: Logger) {
        self.options = options
        self.reconcile = reconcile
        var logger = logger
        logger[metadataKey: "controller"] = "\(options.name)"
        self.logger = logger
        let depth = metrics.queueDepth(options.name)
        let adds = metrics.queueAdds(options.name)
        queue = WorkQueue(observer: { current, added in
            depth.set(to: Double(current))
            if added { adds.increment() }
        })
        reconcileTime = metrics.reconcileTime(options.name)
        successes = metrics.reconciles(options.name, result: "success")
        errors = metrics.reconcileErrors(options.name)
        requeues = metrics.reconciles(options.name, result: "requeue_after")
        retries = metrics.queueRetries(options.name)
        failures = metrics.reconciles(options.name, result: "error")
    }

    /// Connects the informers' events to the queue.
    func watch(primary: Informer, owned: [Informer]) {
        primary.addHandler { [queue] delta in
            let object: CachedObject
            switch delta {
            case .added(let o), .deleted(let o): object = o
            case .updated(_, let new): object = new
            }
            queue.add(ReconcileRequest(namespace: object.namespace, name: object.name))
        }
        let kind = options.forKind
        for informer in owned {
            informer.addHandler { [queue] delta in
                var owners: [CachedObject] = []
                switch delta {
                case .added(let o), .deleted(let o): owners = [o]
                case .updated(let old, let new): owners = old.controller == new.controller ? [new] : [old, new]
                }
                for object in owners {
                    guard let owner = object.controller, owner.kind == kind else { continue }
                    queue.add(ReconcileRequest(namespace: object.namespace, name: owner.name))
                }
            }
        }
    }

    /// Runs the workers until the queue is shut down; each finishes its current key first.
    /// Before each key a worker waits for the informers' relists to settle.
    func runWorkers(gate: RelistGate) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, options.workers) {
                group.addTask { await self.work(gate: gate) }
            }
        }
    }

    private func work(gate: RelistGate) async {
        let clock = ContinuousClock()
        while let request = await queue.get() {
            await gate.waitUntilSettled()
            let start = clock.now
            do {
                let result = try await reconcile(request)
                queue.forget(request)
                if let after = result.requeueAfter {
                    requeues.increment()
                    queue.add(request, after: after)
                } else {
                    successes.increment()
                }
            } catch {
                errors.increment()
                failures.increment()
                retries.increment()
                logger.info("reconcile failed; retrying with backoff",
                            metadata: ["key": "\(request)", "error": "\(error)", "retries": "\(queue.requeues(request))"])
                queue.addRateLimited(request)
            }
            reconcileTime.record(start.duration(to: clock.now))
            queue.done(request)
        }
    }
}
