import Synchronization

/// Holds a manager's workers while any of its informers is relisting after `410 Expired`, and
/// for a quiet period after the last relist ends.
///
/// A reconcile reads several caches (a CloneSet and its pods). When a mesh proxy moves a
/// namespace, it expires every affected watch at once, but each informer finishes its relist
/// at its own time: a shard gaining the namespace could see the CloneSets before their pods
/// and create duplicates; a shard losing it could see its pods vanish before the CloneSets
/// and try to recreate them. Waiting until every relist is done and no new one has started
/// for `quiet` makes the reconcile read caches from the same side of the change.
public final class RelistGate: Sendable {
    struct State {
        var relisting = 0
        var lastEnd: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    let quiet: Duration

    public init(quiet: Duration = .milliseconds(300)) {
        self.quiet = quiet
    }

    func begin() {
        state.withLock { $0.relisting += 1 }
    }

    func end() {
        state.withLock { s in
            s.relisting -= 1
            s.lastEnd = .now
        }
    }

    /// How long a worker must still wait; zero when the caches are settled.
    func remainingWait(now: ContinuousClock.Instant = .now) -> Duration {
        state.withLock { s in
            if s.relisting > 0 { return .milliseconds(20) }
            guard let last = s.lastEnd else { return .zero }
            let elapsed = last.duration(to: now)
            return elapsed >= quiet ? .zero : quiet - elapsed
        }
    }

    /// Returns once no informer is relisting and none has for `quiet`.
    public func waitUntilSettled() async {
        while true {
            let wait = remainingWait()
            if wait == .zero || Task.isCancelled { return }
            try? await Task.sleep(for: wait)
        }
    }
}
