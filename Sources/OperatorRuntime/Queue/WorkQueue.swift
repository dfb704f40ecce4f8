import DequeModule
import KubeClient
import KubeModel
import Synchronization

/// A de-duplicating, rate-limited work queue for reconcile keys. Workers `get` a key, work on
/// it, and call `done`; a key is never handed to two workers at once. `addRateLimited` waits
/// the longer of the key's exponential backoff and an overall token bucket (client-go's
/// default controller rate limiter: 5 ms doubling to 1000 s, and 10 per second with a burst of
/// 100).
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    struct State {
        var items = WorkQueueState<Key>()
        /// Workers waiting for a key, oldest first, by id (so a cancelled one can leave).
        var waiters: Deque<(id: Int, continuation: CheckedContinuation<Key?, Never>)> = []
        var nextWaiterID = 0
        var backoff: ItemBackoff<Key>
        var bucket: TokenBucket
    }

    private let state: Mutex<State>
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    /// Called with every change of depth and on each add (metrics).
    let observer: (@Sendable (_ depth: Int, _ added: Bool) -> Void)?

    public init(backoff: ItemBackoff<Key> = ItemBackoff(), qps: Double = 10, burst: Int = 100,
                observer: (@Sendable (_ depth: Int, _ added: Bool) -> Void)? = nil) {
        origin = clock.now
        state = Mutex(State(backoff: backoff, bucket: TokenBucket(rate: qps, burst: burst, now: 0)))
        self.observer = observer
    }

    public func add(_ key: Key) {
        let (handOff, depth, added) = state.withLock { s -> (HandOff?, Int, Bool) in
            guard s.items.add(key) else { return (nil, s.items.depth, false) }
            return (Self.handOff(&s), s.items.depth, true)
        }
        if added { observer?(depth, true) }
        handOff?.waiter.resume(returning: handOff?.key)
    }

    /// Adds the key after a delay (a reconcile's `requeueAfter`).
    public func add(_ key: Key, after delay: Duration) {
        guard delay > .zero else { return add(key) }
        Task {
            try? await Task.sleep(for: delay)
            self.add(key)
        }
    }

    /// Adds the key after its backoff (a failed reconcile).
    public func addRateLimited(_ key: Key) {
        let now = origin.duration(to: clock.now).seconds
        let delay = state.withLock { s in
            max(s.backoff.next(key), .seconds(s.bucket.reserve(now: now)))
        }
        add(key, after: delay)
    }

    /// Clears the key's backoff (a successful reconcile).
    public func forget(_ key: Key) {
        state.withLock { $0.backoff.forget(key) }
    }

    public func requeues(_ key: Key) -> Int {
        state.withLock { $0.backoff.requeues(key) }
    }

    /// The next key to work on; nil once the queue is shut down or the waiting task is
    /// cancelled (a leader that lost its Lease cancels its workers).
    public func get() async -> Key? {
        let id = state.withLock { s in
            defer { s.nextWaiterID += 1 }
            return s.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
                let result = state.withLock { s -> (ready: Bool, key: Key?, depth: Int) in
                    if let key = s.items.pop() { return (true, key, s.items.depth) }
                    if s.items.shuttingDown || Task.isCancelled { return (true, nil, 0) }
                    s.waiters.append((id, continuation))
                    return (false, nil, 0)
                }
                if result.ready {
                    if result.key != nil { observer?(result.depth, false) }
                    continuation.resume(returning: result.key)
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Key?, Never>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    public func done(_ key: Key) {
        let (handOff, depth) = state.withLock { s -> (HandOff?, Int) in
            guard s.items.done(key) else { return (nil, s.items.depth) }
            return (Self.handOff(&s), s.items.depth)
        }
        observer?(depth, false)
        handOff?.waiter.resume(returning: handOff?.key)
    }

    /// Stops handing out keys: waiting workers get nil.
    public func shutDown() {
        let waiters = state.withLock { s in
            s.items.shutDown()
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    public var depth: Int { state.withLock { $0.items.depth } }

    typealias HandOff = (waiter: CheckedContinuation<Key?, Never>, key: Key)

    /// Gives the next key to the first waiting worker, if both exist, under the same lock.
    private static func handOff(_ s: inout State) -> HandOff? {
        guard !s.waiters.isEmpty, let key = s.items.pop() else { return nil }
        return (s.waiters.removeFirst().continuation, key)
    }
}
