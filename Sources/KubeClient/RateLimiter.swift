import KubeModel
import Synchronization

/// Client-side request rate limit (client-go's `QPS` and `Burst`): each request waits for a
/// token before it is sent.
public final class RateLimiter: Sendable {
    private let bucket: Mutex<TokenBucket>
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    public init(qps: Double, burst: Int) {
        origin = clock.now
        bucket = Mutex(TokenBucket(rate: qps, burst: burst, now: 0))
    }

    public func wait() async throws {
        let now = origin.duration(to: clock.now).seconds
        let delay = bucket.withLock { $0.reserve(now: now) }
        if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
    }
}
