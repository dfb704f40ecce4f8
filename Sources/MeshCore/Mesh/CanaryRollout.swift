/// A canary rollout's decisions, free of I/O and of any clock but the one passed in: which
/// step's share the canary holds, when to take the next step, when to roll back, and what a
/// person's pause, resume or abort does. Handovers themselves stay the planner's business;
/// the rollout only moves the canary's share, and waits for the planner to converge on it.
public struct CanaryRollout: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        /// Taking steps as each one converges and its pause passes.
        case progressing = "Progressing"
        /// Holding the current step until resumed (the error analysis still runs).
        case paused = "Paused"
        /// The last step converged: the rollout is over and no longer judged.
        case completed = "Completed"
        /// The canary failed its analysis: it owns nothing until resumed.
        case rolledBack = "RolledBack"
        /// A person aborted it: the canary owns nothing until resumed.
        case aborted = "Aborted"
    }

    public enum Request: String, Sendable, CaseIterable {
        case pause, resume, abort
    }

    /// The ShardingConfig annotation carrying a person's newest request, as `<request>/<id>`:
    /// the manager acts on each id once and records it in `status.rollout.handledRequest`.
    public static let requestAnnotation = "ctrlmesh.kruise.io/rollout-request"

    /// What the canary's proxies saw in the analysis window.
    public struct Errors: Sendable, Equatable {
        public var requests: Int
        public var errors: Int
        public init(requests: Int, errors: Int) {
            self.requests = requests
            self.errors = errors
        }
        public var percent: Double { requests == 0 ? 0 : Double(errors) * 100 / Double(requests) }

        /// Answers that say the operator's call was wrong or could not be served: bad
        /// request, forbidden, invalid, server errors. Not found, conflict, gone and too many
        /// requests are part of normal reconciling.
        public static func countsAsError(status: Int) -> Bool {
            status == 400 || status == 403 || status == 422 || status >= 500
        }
    }

    public let steps: Int
    public let pause: Duration
    public let analysis: MeshConfig.Canary.Analysis?
    public private(set) var phase: Phase
    /// The step whose share the canary holds (or held, before a rollback).
    public private(set) var step: Int
    /// Why the phase is what it is, for status and events.
    public private(set) var message: String
    /// When the current step was first seen converged; its pause runs from there.
    var settledAt: ContinuousClock.Instant?

    public init(canary: MeshConfig.Canary, phase: Phase = .progressing, step: Int = 0, message: String = "") {
        precondition(!canary.steps.isEmpty)
        self.steps = canary.steps.count
        self.pause = canary.pause
        self.analysis = canary.analysis
        self.phase = phase
        self.step = min(max(step, 0), canary.steps.count - 1)
        self.message = message.isEmpty ? "step \(self.step + 1) of \(canary.steps.count)" : message
    }

    /// The step whose share the canary should own now; nil once rolled back or aborted.
    public var shareStep: Int? {
        switch phase {
        case .progressing, .paused, .completed: step
        case .rolledBack, .aborted: nil
        }
    }

    /// Whether the clock and the canary's errors can still change the rollout (only a person's
    /// request changes a completed, rolled-back or aborted one).
    public var isUnderWay: Bool { phase == .progressing || phase == .paused }

    /// Takes in the mesh as it is now. `converged`: every unit is owned by its target and
    /// acknowledged; `canaryLive`: the canary shard has a member. Returns whether anything
    /// changed (the share may have).
    public mutating func observe(converged: Bool, canaryLive: Bool, errors: Errors, now: ContinuousClock.Instant) -> Bool {
        let before = self
        if isUnderWay, let analysis, errors.requests >= analysis.minRequests,
           errors.percent > analysis.maxErrorPercent {
            phase = .rolledBack
            settledAt = nil
            message = "rolled back at step \(step + 1) of \(steps): \(errors.errors) of \(errors.requests) canary API calls failed "
                + "(\(CanaryRollout.format(errors.percent))% > \(CanaryRollout.format(analysis.maxErrorPercent))%)"
            return true
        }
        guard phase == .progressing else { return self != before }
        guard converged, canaryLive else {
            settledAt = nil
            message = canaryLive ? "step \(step + 1) of \(steps): handing over" : "step \(step + 1) of \(steps): waiting for canary pods"
            return self != before
        }
        let settled = settledAt ?? now
        settledAt = settled
        if step == steps - 1 {
            phase = .completed
            message = "all \(steps) steps done"
        } else if now - settled >= pause {
            step += 1
            settledAt = nil
            message = "step \(step + 1) of \(steps): handing over"
        } else {
            message = "step \(step + 1) of \(steps): holding"
        }
        return self != before
    }

    /// A person's request. Resuming a rolled-back or aborted rollout starts it again from
    /// its first step. Returns whether anything changed.
    public mutating func handle(_ request: Request) -> Bool {
        let before = self
        switch (request, phase) {
        case (.pause, .progressing):
            phase = .paused
            message = "paused at step \(step + 1) of \(steps)"
        case (.resume, .paused):
            phase = .progressing
            settledAt = nil
            message = "resumed at step \(step + 1) of \(steps)"
        case (.resume, .rolledBack), (.resume, .aborted):
            phase = .progressing
            step = 0
            settledAt = nil
            message = "restarted at step 1 of \(steps)"
        case (.abort, .progressing), (.abort, .paused), (.abort, .completed):
            phase = .aborted
            settledAt = nil
            message = "aborted at step \(step + 1) of \(steps): the canary owns nothing"
        default:
            break
        }
        return self != before
    }

    public static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String((value * 10).rounded() / 10)
    }
}
