import Foundation
import KubeModel
import Logging
import MeshControl
import MeshCore
import Synchronization

/// The proxy's fault-injection and circuit-breaker step: the `PolicyEngine` behind a lock,
/// fed the policies the manager sends, with the link to the manager for operator-wide
/// tokens. Policies stay in force while no manager answers; operator-wide limits do not —
/// without the manager that keeps them their requests are refused.
public final class PolicyFilter: Sendable {
    struct ManagerLink {
        var send: AsyncStream<ProxyMessage>.Continuation?
        var nextID: UInt64 = 0
        var pending: [UInt64: CheckedContinuation<Double?, any Error>] = [:]
    }

    struct Unreachable: Error {}

    let engine = Mutex(PolicyEngine())
    /// The engine as last loaded, for the read-only question whether a request concerns any
    /// rule: a copy taken under a short lock and matched outside it, so requests no rule is
    /// about never wait for admissions and report-taking on the engine's lock.
    let rules = Mutex(PolicyEngine())
    /// Set while any rule is loaded, so requests skip the lock when there is none.
    let active = Atomic<Bool>(false)
    let link = Mutex(ManagerLink())
    /// Requests waiting for a limit's token, by rule, to bound each rule's queue.
    let queued = Mutex<[PolicyEngine.LimitHandle: Int]>([:])
    let lastReports = Mutex<[PolicyReport]>([])
    /// Open watches, told when the watch-fault rules change.
    let watches = Mutex<(next: Int, open: [Int: @Sendable () -> Void])>((0, [:]))
    let origin = ContinuousClock.now
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public var isActive: Bool { active.load(ordering: .relaxed) }
    var now: Double { (ContinuousClock.now - origin).seconds }
    var wall: Double { Date().timeIntervalSince1970 }

    /// Replaces the policies with the objects the manager sent. An object the proxy cannot
    /// parse (the manager validated it, so only a version skew can cause this) is skipped.
    public func load(_ objects: [JSON]) {
        var documents: [PolicyDocument] = []
        for object in objects {
            do {
                documents.append(try PolicyDocument(object: object))
            } catch {
                logger.error("ignoring policy \(object.namespace ?? "")/\(object.name ?? ""): \(error)")
            }
        }
        let (now, wall) = (self.now, self.wall)
        let (loaded, watchRulesChanged) = engine.withLock { engine in
            let before = engine.watchFaultRules
            engine.load(documents, now: now, wall: wall)
            return (engine, engine.watchFaultRules != before)
        }
        rules.withLock { $0 = loaded }
        let empty = loaded.isEmpty
        active.store(!empty, ordering: .relaxed)
        if watchRulesChanged {
            // Watches opened under the old rules end cleanly; clients re-watch from their last
            // resourceVersion and the new rules judge the new streams.
            let open = watches.withLock { watches in
                defer { watches.open = [:] }
                return Array(watches.open.values)
            }
            for watch in open { watch() }
        }
        logger.info("applying \(documents.count) fault and breaker policies")
    }

    /// Whether any rule is about the request (read-only, outside the engine's lock).
    func concerns(_ facts: RequestFacts) -> Bool {
        rules.withLock { $0 }.concerns(facts)
    }

    func admit(_ facts: RequestFacts) -> PolicyEngine.Admission {
        let (now, wall) = (self.now, self.wall)
        return engine.withLock { $0.admit(facts, now: now, wall: wall) }
    }

    func finish(_ admission: PolicyEngine.Admission) {
        guard !admission.held.isEmpty else { return }
        engine.withLock { $0.finish(admission) }
    }

    var readsBody: Bool { rules.withLock { $0.readsBody } }

    func overLimitStatus(_ handle: PolicyEngine.LimitHandle, retryAfter: Double) -> StatusError {
        engine.withLock { $0.overLimitStatus(handle, retryAfter: retryAfter) }
    }

    func sharedOverLimit(_ handle: PolicyEngine.LimitHandle, retryAfter: Double) -> PolicyEngine.Admission.Verdict? {
        let (now, wall) = (self.now, self.wall)
        return engine.withLock { $0.sharedOverLimit(handle, retryAfter: retryAfter, now: now, wall: wall) }
    }

    /// Takes a place in a rule's wait queue; false when it is full.
    func enqueue(_ handle: PolicyEngine.LimitHandle, bound: Int) -> Bool {
        queued.withLock { queued in
            guard queued[handle, default: 0] < bound else { return false }
            queued[handle, default: 0] += 1
            return true
        }
    }

    func dequeue(_ handle: PolicyEngine.LimitHandle) {
        queued.withLock { $0[handle, default: 1] -= 1 }
    }

    /// A watch opening: `changed` is called (once) when the watch-fault rules change. Call
    /// `watchClosed` with the id when the watch ends.
    func watchOpened(changed: @escaping @Sendable () -> Void) -> Int {
        watches.withLock { watches in
            watches.next += 1
            watches.open[watches.next] = changed
            return watches.next
        }
    }

    /// A watch opening, for a task: the stream ends when the watch-fault rules change.
    func watchOpened() -> (id: Int, changes: AsyncStream<Void>) {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        return (watchOpened { continuation.finish() }, stream)
    }

    func watchClosed(_ id: Int) {
        _ = watches.withLock { $0.open.removeValue(forKey: id) }
    }

    // MARK: The manager

    /// A session opened: requests for operator-wide tokens go out on it.
    func attach(_ send: AsyncStream<ProxyMessage>.Continuation) {
        link.withLock { $0.send = send }
        lastReports.withLock { $0 = [] }  // the new session gets a full report
    }

    /// The session ended: requests waiting for a token are refused.
    func detach() {
        let waiting = link.withLock { link in
            link.send = nil
            defer { link.pending = [:] }
            return Array(link.pending.values)
        }
        for continuation in waiting { continuation.resume(throwing: Unreachable()) }
    }

    /// Asks the manager for a token of an operator-wide bucket: nil when granted, else the
    /// seconds until one. Throws when no manager is connected or it does not answer in time.
    func acquireShared(_ handle: PolicyEngine.LimitHandle) async throws -> Double? {
        let id = link.withLock { link -> UInt64? in
            guard link.send != nil else { return nil }
            link.nextID += 1
            return link.nextID
        }
        guard let id else { throw Unreachable() }
        let timeout = Task {
            try await Task.sleep(for: .seconds(5))
            self.answered(id, result: .failure(Unreachable()))
        }
        defer { timeout.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let send = link.withLock { link -> AsyncStream<ProxyMessage>.Continuation? in
                guard let send = link.send else { return nil }
                link.pending[id] = continuation
                return send
            }
            guard let send else { return continuation.resume(throwing: Unreachable()) }
            send.yield(.acquire(id: id, policy: handle.policy, rule: handle.rule))
        }
    }

    func granted(_ id: UInt64, retryAfter: Double?) {
        answered(id, result: .success(retryAfter))
    }

    func answered(_ id: UInt64, result: Result<Double?, any Error>) {
        link.withLock { $0.pending.removeValue(forKey: id) }?.resume(with: result)
    }

    /// The reports, when they changed since the last call (breakers are moved through time
    /// first, so a sleeping window that ended shows).
    func changedReports() -> [PolicyReport]? {
        let (now, wall) = (self.now, self.wall)
        let reports = engine.withLock { engine in
            _ = engine.tick(now: now, wall: wall)
            return engine.reports()
        }
        return lastReports.withLock { last in
            guard reports != last else { return nil }
            last = reports
            return reports
        }
    }

    // MARK: Metrics

    /// Per-rule counters and breaker states in the Prometheus text format.
    func exposition() -> String {
        let reports = engine.withLock { $0.reports() }
        var out = "# HELP ctrlmesh_proxy_policy_requests_total Requests per fault or breaker rule, by outcome.\n"
        out += "# TYPE ctrlmesh_proxy_policy_requests_total counter\n"
        var gauges = ""
        for report in reports {
            let policy = report.key.split(separator: "/").dropFirst().joined(separator: "/")
            for rule in report.rules {
                let labels = "policy=\"\(policy)\",rule=\"\(rule.name)\""
                for (outcome, value) in [("matched", rule.matched), ("delayed", rule.delayed), ("aborted", rule.aborted),
                                         ("watch_faulted", rule.watchFaults), ("limited", rule.limited), ("refused", rule.refused)] {
                    out += "ctrlmesh_proxy_policy_requests_total{\(labels),outcome=\"\(outcome)\"} \(value)\n"
                }
                if let state = rule.state {
                    gauges += "ctrlmesh_proxy_breaker_open{\(labels)} \(state == "Opened" ? 1 : 0)\n"
                }
            }
        }
        out += "# HELP ctrlmesh_proxy_breaker_open Whether a limit rule's breaker is open (1) or closed (0).\n"
        out += "# TYPE ctrlmesh_proxy_breaker_open gauge\n" + gauges
        return out
    }
}
