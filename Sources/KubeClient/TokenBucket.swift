/// A token bucket: `rate` tokens a second, at most `burst` saved up. Pure arithmetic on a
/// caller-supplied clock, so the client's QPS limit and the work queue's overall limit are
/// tested without sleeping.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Int
    private var tokens: Double
    private var last: Double

    /// `now` is seconds on any monotonic clock.
    public init(rate: Double, burst: Int, now: Double) {
        precondition(rate > 0 && burst > 0, "a token bucket needs a positive rate and burst")
        self.rate = rate
        self.burst = burst
        self.tokens = Double(burst)
        self.last = now
    }

    /// Takes one token and returns how long the caller must wait before using it (0 when a
    /// token was available). Reservations queue: each later caller waits behind the earlier.
    public mutating func reserve(now: Double) -> Double {
        if now > last {
            tokens = min(Double(burst), tokens + (now - last) * rate)
            last = now
        }
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
