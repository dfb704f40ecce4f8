/// The canary's API calls over a sliding window, from the deltas its proxies report.
public struct ErrorWindow: Sendable {
    var samples: [(at: ContinuousClock.Instant, requests: Int, errors: Int)] = []

    public init() {}

    public mutating func add(requests: Int, errors: Int, at now: ContinuousClock.Instant) {
        guard requests > 0 || errors > 0 else { return }
        samples.append((now, requests, errors))
    }

    /// The totals of the last `window`, dropping what is older.
    public mutating func totals(over window: Duration, at now: ContinuousClock.Instant) -> CanaryRollout.Errors {
        samples.removeAll { now - $0.at > window }
        return samples.reduce(into: CanaryRollout.Errors(requests: 0, errors: 0)) {
            $0.requests += $1.requests
            $0.errors += $1.errors
        }
    }

    public mutating func reset() { samples = [] }
}
