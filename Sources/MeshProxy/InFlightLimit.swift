import Synchronization

/// A bound on the requests a proxy has in flight to its API server at once. Each holds at
/// most one upstream connection at a time (a watch holds its own for as long as it runs), so
/// the bound keeps one replica from taking every connection the API server accepts, which
/// every other shard and client shares. Past it the proxy answers 429 with Retry-After, as the
/// API server's own in-flight limit does, and clients retry.
final class InFlightLimit: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place, or returns false when all are taken.
    func enter() -> Bool {
        if count.add(1, ordering: .relaxed).newValue <= limit { return true }
        count.subtract(1, ordering: .relaxed)
        return false
    }

    func leave() {
        count.subtract(1, ordering: .relaxed)
    }
}
