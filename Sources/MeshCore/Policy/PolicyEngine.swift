import KubeModel

/// The proxy's policy filter as a value: the rules of every FaultInjection and CircuitBreaker
/// that selects the pod, with their buckets, breakers, draws and counters. `admit` classifies
/// nothing and does no I/O; it returns what the proxy's thin step must do — refuse, delay,
/// fault the watch, take operator-wide tokens from the manager, or go on. The order is fixed:
/// intercept rules, then limits, then faults, so a request a limit refuses is not also counted
/// as faulted.
public struct PolicyEngine: Sendable {
    /// A limit rule's state across reloads: the policy and rule, and which generation of the
    /// state an admission took a slot from (a changed rule starts afresh).
    public struct LimitHandle: Sendable, Hashable {
        public let policy: String
        public let rule: String
        let generation: Int
    }

    public struct Admission: Sendable, Equatable {
        public enum Verdict: Sendable, Equatable {
            case proceed
            case refuse(StatusError)
            /// Over a limit: refuse with 429 or wait, as `overLimit` says, and try again after
            /// `retryAfter` seconds.
            case overLimit(LimitHandle, retryAfter: Double, LimitRule.OverLimit)
        }

        public var verdict: Verdict = .proceed
        public var delay: Duration?
        public var watch: WatchFault?
        /// In-flight slots this request holds until `finish`.
        public var held: [LimitHandle] = []
        /// Operator-wide buckets the manager must grant a token from before the request goes.
        public var shared: [LimitHandle] = []
    }

    struct FaultSlot {
        var policy: String
        var rule: FaultRule
        var delayDraws: PercentDraws
        var abortDraws: PercentDraws
        var watchDraws: PercentDraws
        var counters: PolicyReport.Rule
    }

    struct LimitSlot {
        var policy: String
        var describedAs: String
        var rule: LimitRule
        var bucket: TokenBucket?
        var inFlight = 0
        var breaker = BreakerState()
        var counters: PolicyReport.Rule
        var generation: Int
    }

    struct InterceptSlot {
        var policy: String
        var describedAs: String
        var rule: InterceptRule
        var counters: PolicyReport.Rule
    }

    public private(set) var documents: [PolicyDocument] = []
    var faults: [FaultSlot] = []
    var limits: [LimitSlot] = []
    var intercepts: [InterceptSlot] = []
    var nextGeneration = 0
    var index = RuleIndex()
    /// Whether some rule needs the request body's name or labels.
    public private(set) var readsBody = false

    public init() {}

    public var isEmpty: Bool { faults.isEmpty && limits.isEmpty && intercepts.isEmpty }

    /// The rules that fault watch streams: when they change, open watches must reopen to be
    /// judged by the new ones.
    public var watchFaultRules: [FaultRule] { faults.map(\.rule).filter { $0.watch != nil } }

    /// Replaces the policies. A rule whose policy and definition are unchanged keeps its
    /// bucket, breaker, draws and counters; a changed reset annotation closes the policy's
    /// breakers. Disabled policies are kept for reporting but match nothing.
    public mutating func load(_ documents: [PolicyDocument], now: Double, wall: Double, randomSeed: UInt64 = .random(in: .min ... .max)) {
        let previous = self
        let oldDocuments = Dictionary(previous.documents.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        self.documents = documents
        faults = []
        limits = []
        intercepts = []
        for document in documents where !document.disabled {
            let describedAs = "\(document.kind.rawValue) \(document.namespace)/\(document.name)"
            for rule in document.faults {
                if let kept = previous.faults.first(where: { $0.policy == document.key && $0.rule == rule }),
                   oldDocuments[document.key]?.seed == document.seed {
                    faults.append(kept)
                    continue
                }
                let seed = document.seed ?? randomSeed
                faults.append(FaultSlot(policy: document.key, rule: rule, delayDraws: PercentDraws(seed: seed, rule: rule.name, fault: "delay"),
                                        abortDraws: PercentDraws(seed: seed, rule: rule.name, fault: "abort"),
                                        watchDraws: PercentDraws(seed: seed, rule: rule.name, fault: "watch"),
                                        counters: PolicyReport.Rule(name: rule.name)))
            }
            for rule in document.limits {
                if var kept = previous.limits.first(where: { $0.policy == document.key && $0.rule == rule }) {
                    if let old = oldDocuments[document.key], old.resetToken != document.resetToken {
                        kept.breaker.handle(.reset, trigger: rule.trigger, recovery: rule.recovery, now: now, wall: wall)
                    }
                    limits.append(kept)
                    continue
                }
                nextGeneration += 1
                let bucket = rule.bucket.map { TokenBucket(rate: $0.ratePerSecond, burst: $0.burst, now: now) }
                limits.append(LimitSlot(policy: document.key, describedAs: describedAs, rule: rule, bucket: rule.scope == .pod ? bucket : nil,
                                        counters: PolicyReport.Rule(name: rule.name), generation: nextGeneration))
            }
            for rule in document.intercepts {
                let kept = previous.intercepts.first { $0.policy == document.key && $0.rule == rule }
                intercepts.append(kept ?? InterceptSlot(policy: document.key, describedAs: describedAs, rule: rule,
                                                        counters: PolicyReport.Rule(name: rule.name)))
            }
        }
        index = RuleIndex(faults: faults.map(\.rule.match), limits: limits.map(\.rule.match), intercepts: intercepts.map(\.rule))
        readsBody = faults.contains { $0.rule.match.readsBody } || limits.contains { $0.rule.match.readsBody }
            || intercepts.contains { $0.rule.match.readsBody }
    }

    /// Whether `admit` could do anything to this request: some rule matches it (time windows
    /// aside), or an allow-list covers its method. Pure and read-only, so the proxy asks it of
    /// a snapshot outside any lock and skips the engine for the requests no rule is about.
    public func concerns(_ facts: RequestFacts) -> Bool {
        if index.allowListCovers(method: facts.method) { return true }
        for group in index.candidates(facts) {
            if group.intercepts.contains(where: { intercepts[$0].rule.covers(method: facts.method) && intercepts[$0].rule.match.matches(facts) })
                || group.limits.contains(where: { limits[$0].rule.match.matches(facts) })
                || group.faults.contains(where: { faults[$0].rule.match.matches(facts) }) {
                return true
            }
        }
        return false
    }

    /// Decides one request. `now` is monotonic seconds (buckets, breakers), `wall` seconds
    /// since the epoch (time windows, transition times).
    public mutating func admit(_ facts: RequestFacts, now: Double, wall: Double) -> Admission {
        var admission = Admission()
        if let refusal = intercept(facts) {
            admission.verdict = .refuse(refusal)
            return admission
        }
        for index in limits.indices where limits[index].rule.match.matches(facts) {
            if let verdict = limit(index, now: now, wall: wall, admission: &admission) {
                admission.verdict = verdict
                return dropSlots(admission)
            }
        }
        for index in faults.indices where faults[index].rule.match.matches(facts) {
            let rule = faults[index].rule
            if let window = rule.window, !window.contains(wall) { continue }
            faults[index].counters.matched += 1
            if let delay = rule.delay, faults[index].delayDraws.hits(delay.percent) {
                faults[index].counters.delayed += 1
                var length = delay.min
                if delay.max > delay.min {
                    let share = faults[index].delayDraws.next() / 100
                    length = delay.min + (delay.max - delay.min) * share
                }
                admission.delay = max(admission.delay ?? .zero, length)
            }
            if let abort = rule.abort, admission.verdict == .proceed, faults[index].abortDraws.hits(abort.percent) {
                faults[index].counters.aborted += 1
                admission.verdict = .refuse(abort.status)
            }
            if let watch = rule.watch, facts.info?.verb == .watch, admission.watch == nil, faults[index].watchDraws.hits(watch.percent) {
                faults[index].counters.watchFaults += 1
                admission.watch = watch
            }
        }
        return admission.verdict == .proceed ? admission : dropSlots(admission)
    }

    /// A refused request holds no in-flight slot and asks for no token.
    mutating func dropSlots(_ admission: Admission) -> Admission {
        release(admission.held)
        var dropped = admission
        dropped.held = []
        dropped.shared = []
        return dropped
    }

    /// Deny rules refuse what they match; allow rules, where any covers the method, refuse
    /// what none of them matches.
    mutating func intercept(_ facts: RequestFacts) -> StatusError? {
        var allowCovered = false
        var allowed = false
        for index in intercepts.indices where intercepts[index].rule.covers(method: facts.method) {
            let rule = intercepts[index].rule
            let matched = rule.match.matches(facts)
            switch rule.kind {
            case .deny where matched:
                intercepts[index].counters.matched += 1
                intercepts[index].counters.refused += 1
                return StatusError.forbidden("\(facts.method) \(facts.path) is denied by rule \(rule.name) of \(intercepts[index].describedAs)")
            case .deny:
                continue
            case .allow:
                allowCovered = true
                if matched {
                    intercepts[index].counters.matched += 1
                    allowed = true
                }
            }
        }
        guard allowCovered, !allowed else { return nil }
        if let index = intercepts.firstIndex(where: { $0.rule.kind == .allow && $0.rule.covers(method: facts.method) }) {
            intercepts[index].counters.refused += 1
            return StatusError.forbidden("\(facts.method) \(facts.path) is not allowed by rule \(intercepts[index].rule.name) of \(intercepts[index].describedAs)")
        }
        return nil
    }

    /// One matched limit rule: nil to go on, or the verdict that stops the request.
    mutating func limit(_ index: Int, now: Double, wall: Double, admission: inout Admission) -> Admission.Verdict? {
        let rule = limits[index].rule
        let handle = LimitHandle(policy: limits[index].policy, rule: rule.name, generation: limits[index].generation)
        limits[index].counters.matched += 1
        switch rule.trigger {
        case .forceClosed: return nil
        case .forceOpened:
            limits[index].counters.refused += 1
            return .refuse(openStatus(index, retryAfter: nil))
        case .normal, .limiterOnly: break
        }
        limits[index].breaker.handle(.tick, trigger: rule.trigger, recovery: rule.recovery, now: now, wall: wall)
        if limits[index].breaker.state == .opened {
            limits[index].counters.refused += 1
            return .refuse(openStatus(index, retryAfter: limits[index].breaker.secondsUntilRecovery(rule.recovery, now: now)))
        }
        if let max = rule.maxInFlight, limits[index].inFlight >= max {
            return overLimit(index, handle: handle, retryAfter: 0.05, now: now, wall: wall)
        }
        if var bucket = limits[index].bucket {
            let wait = bucket.take(now: now)
            limits[index].bucket = bucket
            if wait > 0 { return overLimit(index, handle: handle, retryAfter: wait, now: now, wall: wall) }
        }
        if rule.maxInFlight != nil {
            limits[index].inFlight += 1
            admission.held.append(handle)
        }
        if rule.scope == .wholeOperator, rule.bucket != nil { admission.shared.append(handle) }
        return nil
    }

    mutating func overLimit(_ index: Int, handle: LimitHandle, retryAfter: Double, now: Double, wall: Double) -> Admission.Verdict {
        let rule = limits[index].rule
        limits[index].counters.limited += 1
        limits[index].breaker.handle(.overLimit, trigger: rule.trigger, recovery: rule.recovery, now: now, wall: wall)
        return .overLimit(handle, retryAfter: retryAfter, rule.overLimit)
    }

    /// The limit slot an admission took its handle from; nil once the rule changed or went.
    func slot(of handle: LimitHandle) -> Int? {
        limits.firstIndex { $0.policy == handle.policy && $0.rule.name == handle.rule && $0.generation == handle.generation }
    }

    /// The manager refused a token of an operator-wide bucket.
    public mutating func sharedOverLimit(_ handle: LimitHandle, retryAfter: Double, now: Double, wall: Double) -> Admission.Verdict? {
        guard let index = slot(of: handle) else { return nil }
        return overLimit(index, handle: handle, retryAfter: retryAfter, now: now, wall: wall)
    }

    /// The request is done: give back its in-flight slots.
    public mutating func finish(_ admission: Admission) {
        release(admission.held)
    }

    mutating func release(_ handles: [LimitHandle]) {
        for handle in handles {
            if let index = slot(of: handle) { limits[index].inFlight -= 1 }
        }
    }

    /// The 429 an over-limit request gets.
    public func overLimitStatus(_ handle: LimitHandle, retryAfter: Double) -> StatusError {
        let described = slot(of: handle).map { limits[$0].describedAs } ?? handle.policy
        var status = StatusError(code: 429, reason: .tooManyRequests,
                                 message: "the request is over the limit of rule \(handle.rule) of \(described)")
        status.retryAfterSeconds = max(1, Int(retryAfter.rounded(.up)))
        return status
    }

    func openStatus(_ index: Int, retryAfter: Double?) -> StatusError {
        var status = StatusError(code: 429, reason: .tooManyRequests,
                                 message: "the circuit breaker of rule \(limits[index].rule.name) of \(limits[index].describedAs) is open")
        status.retryAfterSeconds = retryAfter.map { max(1, Int($0.rounded(.up))) }
        return status
    }

    /// Moves breakers through time (a sleeping window ending) without a request; returns
    /// whether any changed.
    public mutating func tick(now: Double, wall: Double) -> Bool {
        var changed = false
        for index in limits.indices {
            let rule = limits[index].rule
            changed = limits[index].breaker.handle(.tick, trigger: rule.trigger, recovery: rule.recovery, now: now, wall: wall) || changed
        }
        return changed
    }

    /// One report per loaded policy, rules in spec order.
    public func reports() -> [PolicyReport] {
        documents.map { document in
            var rules: [PolicyReport.Rule] = []
            for slot in faults where slot.policy == document.key { rules.append(slot.counters) }
            for slot in limits where slot.policy == document.key {
                var counters = slot.counters
                counters.state = slot.breaker.reported(slot.rule.trigger).rawValue
                counters.lastTransitionTime = slot.breaker.lastTransition.map { Timestamp.format(seconds: Int64($0)) }
                counters.transitions = slot.breaker.transitions
                rules.append(counters)
            }
            for slot in intercepts where slot.policy == document.key { rules.append(slot.counters) }
            return PolicyReport(key: document.key, specHash: document.specHash, rules: rules)
        }
    }
}
