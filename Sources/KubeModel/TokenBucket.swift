/// A token bucket: `rate` tokens a second, at most `burst` saved up. Pure arithmetic on a
/// caller-supplied clock, so the client's QPS limit, the work queue's overall limit and the
/// circuit breaker's rate limits are tested without sleeping.
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

    /// A bucket that starts empty: a newly elected mesh manager cannot know what its
    /// predecessor granted, so it grants nothing it has not accrued itself.
    public init(rate: Double, burst: Int, now: Double, empty: Bool) {
        self.init(rate: rate, burst: burst, now: now)
        if empty { tokens = 0 }
    }

    /// Takes one token if one is there (returns 0); otherwise takes nothing and returns how
    /// long until one will be. For limits that refuse rather than queue.
    public mutating func take(now: Double) -> Double {
        refill(now: now)
        if tokens >= 1 {
            tokens -= 1
            return 0
        }
        return (1 - tokens) / rate
    }

    mutating func refill(now: Double) {
        if now > last {
            tokens = min(Double(burst), tokens + (now - last) * rate)
            last = now
        }
    }

    /// Takes one token and returns how long the caller must wait before using it (0 when a
    /// token was available). Reservations queue: each later caller waits behind the earlier.
    public mutating func reserve(now: Double) -> Double {
        refill(now: now)
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
