import KubeModel

/// One limit rule's breaker as KusionStack reports it, `Closed` or `Opened`. A state machine
/// with no clock of its own: events carry the monotonic time (`now`, for the recovery window)
/// and the wall time (`wall`, for `lastTransitionTime`).
public struct BreakerState: Sendable, Equatable {
    public enum State: String, Sendable {
        case closed = "Closed"
        case opened = "Opened"
    }

    public enum Event: Sendable, Equatable {
        /// A matched request was over the limit.
        case overLimit
        /// Someone reset the breaker.
        case reset
        /// Time passed.
        case tick
    }

    public private(set) var state: State = .closed
    public private(set) var openedAt: Double?
    /// Wall-clock seconds of the last change (nil: never changed).
    public private(set) var lastTransition: Double?
    /// How many times the state has changed: reported beside the state, so a breaker that
    /// closed and opened again between two reports is seen to have changed twice.
    public private(set) var transitions = 0

    public init() {}

    /// Applies an event; returns whether the state changed.
    @discardableResult
    public mutating func handle(_ event: Event, trigger: LimitRule.Trigger, recovery: LimitRule.Recovery, now: Double, wall: Double) -> Bool {
        let before = state
        switch (state, event) {
        case (.opened, _) where trigger != .normal:
            // The trigger changed to one that never holds the breaker open.
            state = .closed
            openedAt = nil
        case (.closed, .overLimit) where trigger == .normal:
            state = .opened
            openedAt = now
        case (.opened, .reset):
            state = .closed
            openedAt = nil
        case (.opened, .tick):
            if case .sleepingWindow(let window) = recovery, let openedAt, now - openedAt >= window.seconds {
                state = .closed
                self.openedAt = nil
            }
        default:
            break
        }
        guard state != before else { return false }
        lastTransition = wall
        transitions += 1
        return true
    }

    /// The state as reported: forced triggers override the machine.
    public func reported(_ trigger: LimitRule.Trigger) -> State {
        switch trigger {
        case .forceOpened: .opened
        case .forceClosed, .limiterOnly: .closed
        case .normal: state
        }
    }

    /// Seconds until a sleeping window closes the breaker (nil: not open, or manual).
    public func secondsUntilRecovery(_ recovery: LimitRule.Recovery, now: Double) -> Double? {
        guard state == .opened, let openedAt, case .sleepingWindow(let window) = recovery else { return nil }
        return max(0, openedAt + window.seconds - now)
    }
}
