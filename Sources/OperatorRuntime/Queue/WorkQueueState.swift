import DequeModule

/// The work queue's bookkeeping, as client-go's: a key waits in the queue at most once
/// (`dirty`), is handed to one worker at a time (`processing`), and a key added while it is
/// being processed is queued again only when that worker is done. Pure; `WorkQueue` adds the
/// waiting.
public struct WorkQueueState<Key: Hashable & Sendable>: Sendable {
    public private(set) var queue: Deque<Key> = []
    public private(set) var dirty: Set<Key> = []
    public private(set) var processing: Set<Key> = []
    public private(set) var shuttingDown = false

    public init() {}

    /// Marks the key as needing work; true when it entered the queue (a worker may take it).
    public mutating func add(_ key: Key) -> Bool {
        guard !shuttingDown, !dirty.contains(key) else { return false }
        dirty.insert(key)
        if processing.contains(key) { return false }
        queue.append(key)
        return true
    }

    /// Hands the next key to a worker.
    public mutating func pop() -> Key? {
        guard let key = queue.popFirst() else { return nil }
        processing.insert(key)
        dirty.remove(key)
        return key
    }

    /// The worker finished the key; true when it was re-added meanwhile and is queued again.
    public mutating func done(_ key: Key) -> Bool {
        processing.remove(key)
        guard dirty.contains(key) else { return false }
        queue.append(key)
        return true
    }

    public mutating func shutDown() { shuttingDown = true }

    public var depth: Int { queue.count }
}
