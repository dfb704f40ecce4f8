import DequeModule
import KubeModel
import Synchronization

/// What a watch loop wakes up for: a store event, or a bookmark with the store's
/// resourceVersion at the moment it was queued (so it never overtakes a queued event).
public enum WatchSignal: Sendable {
    case event(StoreEvent)
    case bookmark(resourceVersion: UInt64)
}

/// One watcher's queue. The consumer takes everything queued at once, so a burst of events is
/// written with one flush. Bounded: a watcher that falls too far behind is ended and marked
/// `overflowed`; its client gets 410 Expired and relists, as with the real watch cache.
public final class WatchSubscription: Sendable {
    struct Queue {
        var items: Deque<WatchSignal> = []
        var waiter: CheckedContinuation<[WatchSignal]?, Never>?
        var finished = false
        var overflowed = false
    }

    let id: Int
    let resource: GroupResource
    let bufferLimit: Int
    let queue = Mutex(Queue())
    weak let store: ObjectStore?

    init(id: Int, resource: GroupResource, bufferLimit: Int, store: ObjectStore) {
        self.id = id
        self.resource = resource
        self.bufferLimit = bufferLimit
        self.store = store
    }

    public var overflowed: Bool { queue.withLock { $0.overflowed } }

    /// Queues a signal; false when the watcher is finished (or just overflowed) so the store
    /// drops it.
    @discardableResult
    func deliver(_ signal: WatchSignal) -> Bool {
        var waiter: CheckedContinuation<[WatchSignal]?, Never>?
        var batch: [WatchSignal]? = nil
        let alive = queue.withLock { q -> Bool in
            if q.finished { return false }
            if q.items.count >= bufferLimit {
                q.overflowed = true
                q.finished = true
                q.items.removeAll()
                waiter = q.waiter.take()
                return false
            }
            q.items.append(signal)
            if let w = q.waiter.take() {
                waiter = w
                batch = Array(q.items)
                q.items.removeAll(keepingCapacity: true)
            }
            return true
        }
        waiter?.resume(returning: batch)
        return alive
    }

    /// The next batch of signals; nil once the watch is finished or the task is cancelled.
    public func next() async -> [WatchSignal]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<[WatchSignal]?, Never>) in
                let ready: [WatchSignal]?? = queue.withLock { q in
                    if !q.items.isEmpty {
                        let items = Array(q.items)
                        q.items.removeAll(keepingCapacity: true)
                        return .some(items)
                    }
                    if q.finished || Task.isCancelled { return .some(nil) }
                    q.waiter = c
                    return .none
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Ends the watch: the consumer's `next` returns nil.
    public func finish() {
        let waiter = queue.withLock { q -> CheckedContinuation<[WatchSignal]?, Never>? in
            q.finished = true
            return q.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    public func cancel() {
        finish()
        store?.unsubscribe(self)
    }
}
