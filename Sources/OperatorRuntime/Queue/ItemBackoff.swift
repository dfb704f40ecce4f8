/// Per-key exponential backoff (client-go's `ItemExponentialFailureRateLimiter`): the n-th
/// consecutive failure of a key waits `base * 2^n`, capped; `forget` starts the key over.
public struct ItemBackoff<Key: Hashable & Sendable>: Sendable {
    public let base: Duration
    public let cap: Duration
    private var failures: [Key: Int] = [:]

    public init(base: Duration = .milliseconds(5), cap: Duration = .seconds(1000)) {
        self.base = base
        self.cap = cap
    }

    public mutating func next(_ key: Key) -> Duration {
        let n = failures[key, default: 0]
        failures[key] = n + 1
        guard n < 62 else { return cap }
        let delay = base * Int(1 << n)
        return min(delay, cap)
    }

    public mutating func forget(_ key: Key) { failures[key] = nil }

    public func requeues(_ key: Key) -> Int { failures[key, default: 0] }
}
