import KubeModel
import MeshCore
import Synchronization

/// The proxy's current shard spec and everything that must change with it in step: the list
/// and watch streams that a new spec would invalidate, the writes admitted under the old one,
/// and which resourceVersions were handed out before each change.
///
/// A spec change takes effect for new requests at once; streams of resources whose slice
/// changed are ended (watches with `410 Expired`), writes admitted under the old spec are
/// waited for, and only then is the new epoch reported as applied.
public final class ShardState: Sendable {
    /// A registered list or watch; `revoked` is set (and `signal` fires) when a spec change
    /// invalidates what it delivers.
    public final class StreamTicket: Sendable {
        let id: Int
        let resource: GroupResource
        let generation: Int
        public let spec: ShardSpec?
        let revokedFlag = Atomic<Bool>(false)
        /// Closes the client's connection: for a stream that does not end when revoked.
        let abort: @Sendable () -> Void
        /// Tells a stream served on an event loop (it awaits no `revocations`).
        let onRevoke: (@Sendable () -> Void)?
        public let revocations: AsyncStream<Void>
        let continuation: AsyncStream<Void>.Continuation

        init(id: Int, resource: GroupResource, generation: Int, spec: ShardSpec?, abort: @escaping @Sendable () -> Void,
             onRevoke: (@Sendable () -> Void)?) {
            self.abort = abort
            self.onRevoke = onRevoke
            self.id = id
            self.resource = resource
            self.generation = generation
            self.spec = spec
            (revocations, continuation) = AsyncStream<Void>.makeStream()
        }

        public var revoked: Bool { revokedFlag.load(ordering: .acquiring) }

        func revoke() {
            revokedFlag.store(true, ordering: .releasing)
            continuation.yield()
            continuation.finish()
            onRevoke?()
        }
    }

    /// A write admitted under one generation of the spec.
    public struct WriteTicket: Sendable {
        let id: Int
        public let spec: ShardSpec?
        /// Whether the spec shards the resource written: only such writes are stamped and
        /// re-checked before they leave.
        public let sharded: Bool
        let admittedAt: ContinuousClock.Instant
    }

    struct Change {
        var generation: Int
        var old: ShardSpec?
        var new: ShardSpec?
        /// The highest resourceVersion delivered before the change.
        var boundary: UInt64
        var labelsChanged: Bool

        func affects(_ gr: GroupResource) -> Bool {
            ShardState.sliceChanged(gr, old: old, new: new) || (labelsChanged && new?.keyMode(of: gr) == .namespace)
        }
    }

    struct State {
        var spec: ShardSpec?
        var generation = 0
        var appliedEpoch: UInt64?
        var nextID = 0
        var streams: [Int: StreamTicket] = [:]
        var writes: [Int: Int] = [:]
        var changes: [Change] = []
        var maxDelivered: UInt64 = 0
        /// List resourceVersions served per resource, with the generation they were served in.
        var servedLists: [GroupResource: [UInt64: Int]] = [:]
        var continueTokens: [String: (GroupResource, Int)] = [:]
        /// resourceVersions of lists that completed after a spec change revoked them.
        var staleLists: Set<StaleList> = []
    }

    struct StaleList: Hashable {
        var resource: GroupResource
        var resourceVersion: UInt64
    }

    let state = Mutex(State())
    /// Whether the member lease is valid now (nil: no lease, a spec file's proxy).
    /// (In a struct: a function stored as the lock's own value gains a thunk on every access.)
    let leaseValidity = Mutex<LeaseCheck?>(nil)
    struct LeaseCheck {
        let isValid: @Sendable () -> Bool
    }
    /// The longest an admitted write may wait in the proxy before it leaves.
    public let maxWriteAge: Duration
    static let rememberedChanges = 32
    static let rememberedTokens = 4096
    /// How long a revoked stream may take to end before its connection is closed.
    static let streamGracePeriod = Duration.seconds(5)

    public init(maxWriteAge: Duration = .seconds(5)) {
        self.maxWriteAge = maxWriteAge
    }

    /// From now on a write leaves only while `valid` says the member lease is valid.
    public func requireLease(_ valid: @escaping @Sendable () -> Bool) {
        leaseValidity.withLock { $0 = LeaseCheck(isValid: valid) }
    }

    public var spec: ShardSpec? { state.withLock { $0.spec } }
    public var appliedEpoch: UInt64? { state.withLock { $0.appliedEpoch } }

    /// Whether a change from `old` to `new` alters what a shard sees of `gr`.
    static func sliceChanged(_ gr: GroupResource, old: ShardSpec?, new: ShardSpec?) -> Bool {
        guard let old, let new else { return old != nil || new != nil }
        let before = old.keyMode(of: gr)
        let after = new.keyMode(of: gr)
        if before != after { return true }
        return before != nil && old.owned != new.owned
    }

    // MARK: Streams and writes

    public func registerStream(_ gr: GroupResource, abort: @escaping @Sendable () -> Void,
                               onRevoke: (@Sendable () -> Void)? = nil) -> StreamTicket {
        state.withLock { s in
            s.nextID += 1
            let ticket = StreamTicket(id: s.nextID, resource: gr, generation: s.generation, spec: s.spec, abort: abort, onRevoke: onRevoke)
            s.streams[ticket.id] = ticket
            return ticket
        }
    }

    public func deregister(_ ticket: StreamTicket) {
        _ = state.withLock { $0.streams.removeValue(forKey: ticket.id) }
    }

    public func beginWrite(_ gr: GroupResource) -> WriteTicket {
        state.withLock { s in
            s.nextID += 1
            s.writes[s.nextID] = s.generation
            return WriteTicket(id: s.nextID, spec: s.spec, sharded: s.spec?.keyMode(of: gr) != nil, admittedAt: .now)
        }
    }

    /// Why a write admitted with `ticket` must not leave now (`WriteDeparture`), or nil.
    public func departureRefusal(_ ticket: WriteTicket) -> StatusError? {
        guard ticket.sharded, let admitted = ticket.spec else { return nil }
        let leaseValid = leaseValidity.withLock { $0 }.map { $0.isValid() }
        let current = state.withLock { $0.spec?.epoch }
        guard let reason = WriteDeparture.refusal(admittedEpoch: admitted.epoch, currentEpoch: current, leaseValid: leaseValid,
                                                  age: .now - ticket.admittedAt, bound: maxWriteAge) else { return nil }
        return StatusError(code: 503, reason: .serviceUnavailable, message: reason, retryAfterSeconds: 1)
    }

    public func endWrite(_ ticket: WriteTicket) {
        _ = state.withLock { $0.writes.removeValue(forKey: ticket.id) }
    }

    // MARK: resourceVersions handed out

    public func noteDelivered(resourceVersion: String?) {
        guard let rv = resourceVersion.flatMap(UInt64.init) else { return }
        state.withLock { if rv > $0.maxDelivered { $0.maxDelivered = rv } }
    }

    /// Records a completed list: its resourceVersion and continue token belong to the
    /// generation the list was served under. A list that a spec change revoked while it ran
    /// showed the old slice: a watch from its resourceVersion must relist.
    public func noteList(_ gr: GroupResource, ticket: StreamTicket, resourceVersion: String?, continueToken: String?) {
        state.withLock { s in
            if let rv = resourceVersion.flatMap(UInt64.init) {
                let list = StaleList(resource: gr, resourceVersion: rv)
                if ticket.revoked {
                    if s.staleLists.count >= ShardState.rememberedTokens { s.staleLists.removeAll() }
                    s.staleLists.insert(list)
                } else {
                    // A fresh list at the same version shows the new slice: resuming from it is fine.
                    s.staleLists.remove(list)
                }
                if rv > s.maxDelivered { s.maxDelivered = rv }
                // Mutated in place: a copy of the map per list would cost as much as the map.
                if s.servedLists[gr, default: [:]].count >= ShardState.rememberedTokens { s.servedLists[gr]?.removeAll() }
                s.servedLists[gr, default: [:]][rv] = ticket.generation
            }
            if let continueToken, !continueToken.isEmpty {
                if s.continueTokens.count >= ShardState.rememberedTokens { s.continueTokens.removeAll() }
                s.continueTokens[continueToken] = (gr, ticket.generation)
            }
        }
    }

    /// Whether a watch from `resourceVersion` would resume a view of `gr` taken before a
    /// change of its slice: such a client must relist (410) to see its new slice.
    public func watchNeedsRelist(_ gr: GroupResource, resourceVersion: String?) -> Bool {
        guard let text = resourceVersion, text != "0", let rv = UInt64(text) else { return false }
        return state.withLock { s in
            if s.staleLists.contains(StaleList(resource: gr, resourceVersion: rv)) { return true }
            for change in s.changes where change.affects(gr) && rv <= change.boundary {
                if let servedAt = s.servedLists[gr]?[rv], servedAt >= change.generation { continue }
                return true
            }
            return false
        }
    }

    /// Whether a continue token was issued before a change of the slice of `gr`.
    public func continueIsStale(_ gr: GroupResource, token: String) -> Bool {
        state.withLock { s in
            guard let (resource, generation) = s.continueTokens[token], resource == gr else { return false }
            return s.changes.contains { $0.generation > generation && $0.affects(gr) }
        }
    }

    // MARK: Changes

    /// Installs a new spec and returns when its epoch is applied: affected streams have ended
    /// and writes admitted under earlier specs have finished.
    public func apply(_ spec: ShardSpec) async {
        await change(.install(spec))
        state.withLock { $0.appliedEpoch = spec.epoch }
    }

    /// Drops the spec (the liveness lease lapsed, or no shard is assigned): from now on the
    /// proxy fails closed. Returns when writes admitted under the old spec have finished.
    public func fence() async {
        guard spec != nil else { return }
        await change(.install(nil))
        state.withLock { $0.appliedEpoch = nil }
    }

    /// Namespace labels changed in a way that moves namespaces in or out of this shard:
    /// streams of namespace-keyed resources end so their clients relist.
    public func namespaceScopeChanged() async {
        await change(.namespaceScope)
    }

    enum Update {
        case install(ShardSpec?)
        /// The spec stays (whichever is in force at that moment); namespace labels moved.
        case namespaceScope
    }

    func change(_ update: Update) async {
        let (revoked, pendingWrites) = state.withLock { s -> ([StreamTicket], Set<Int>) in
            let new: ShardSpec?
            let labelsChanged: Bool
            switch update {
            case .install(let spec): (new, labelsChanged) = (spec, false)
            case .namespaceScope: (new, labelsChanged) = (s.spec, true)
            }
            let change = Change(generation: s.generation + 1, old: s.spec, new: new, boundary: s.maxDelivered,
                                labelsChanged: labelsChanged)
            s.generation = change.generation
            s.spec = new
            s.changes.append(change)
            if s.changes.count > ShardState.rememberedChanges { s.changes.removeFirst() }
            let revoked = s.streams.values.filter { change.affects($0.resource) }
            return (revoked, Set(s.writes.keys))
        }
        for ticket in revoked { ticket.revoke() }
        let waitingFor = Set(revoked.map(\.id))
        let clock = ContinuousClock()
        let abortAt = clock.now + ShardState.streamGracePeriod
        var aborted = false
        while true {
            let (streamsLeft, writesLeft) = state.withLock { s in
                (waitingFor.intersection(s.streams.keys), !pendingWrites.isDisjoint(with: s.writes.keys))
            }
            if streamsLeft.isEmpty && !writesLeft { return }
            if !aborted, clock.now >= abortAt {
                // A client that stopped reading keeps its stream's last write pending: cut it off.
                aborted = true
                for ticket in revoked where streamsLeft.contains(ticket.id) { ticket.abort() }
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Streams currently open, for status.
    public var openStreams: Int { state.withLock { $0.streams.count } }
}
