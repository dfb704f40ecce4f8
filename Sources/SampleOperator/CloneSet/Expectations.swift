import Synchronization

/// What a reconcile is still waiting to see in the informer cache (client-go's controller
/// expectations): pods it created and pods it deleted. Until the cache shows them, the next
/// reconcile of that CloneSet must not act on a stale pod list, or it would create or delete
/// twice. Expectations lapse after `timeout` in case an event was missed.
final class Expectations: Sendable {
    struct Pending {
        var created: Set<String> = []
        var deleted: Set<String> = []
        var deadline: ContinuousClock.Instant
    }

    private let pending = Mutex([String: Pending]())
    private let timeout: Duration

    init(timeout: Duration = .seconds(30)) {
        self.timeout = timeout
    }

    func expect(_ key: String, created: [String], deleted: [String]) {
        guard !created.isEmpty || !deleted.isEmpty else { return }
        pending.withLock { all in
            var entry = all[key] ?? Pending(deadline: .now + timeout)
            entry.created.formUnion(created)
            entry.deleted.formUnion(deleted)
            entry.deadline = .now + timeout
            all[key] = entry
        }
    }

    /// True when every expected pod is seen: `isCached(name)` says whether a created pod's
    /// name is in the cache, `isGone(uid)` whether a deleted pod's uid has left it.
    func satisfied(_ key: String, isCached: (String) -> Bool, isGone: (String) -> Bool) -> Bool {
        pending.withLock { all in
            guard var entry = all[key] else { return true }
            entry.created = entry.created.filter { !isCached($0) }
            entry.deleted = entry.deleted.filter { !isGone($0) }
            if (entry.created.isEmpty && entry.deleted.isEmpty) || entry.deadline < .now {
                all[key] = nil
                return true
            }
            all[key] = entry
            return false
        }
    }

    func forget(_ key: String) {
        pending.withLock { $0[key] = nil }
    }
}
