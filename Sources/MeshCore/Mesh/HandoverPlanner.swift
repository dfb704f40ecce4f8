/// The handover protocol's every decision, free of I/O: which shard each unit (a hash slot,
/// or a namespace set) should belong to, and which spec each proxy must be sent so that no
/// unit is ever writable by two shards.
///
/// The rule is one line: a shard is granted a unit only when no proxy of another shard may
/// still hold it. What a proxy "may hold" is its acknowledged spec plus every spec sent to it
/// since (it may have applied any of them); a proxy that has not reported since this planner
/// started may hold every unit; a proxy whose liveness lease provably expired holds nothing
/// (it fenced itself first). Revoking is always safe, so a move is: the old shard is sent a
/// spec without the unit (a new epoch), its proxies apply it and acknowledge, their holdings
/// shrink, and the next step grants the unit to the new shard.
public struct HandoverPlanner: Sendable {
    /// A spec a proxy may be enforcing: the shard it was issued for, its epoch, its units.
    public struct Holding: Sendable, Equatable {
        public var shard: String
        public var epoch: UInt64
        public var units: Set<Int>
        /// What the spec says besides its units (sharded resources, lock): a spec of another
        /// revision is re-sent even when its units are right.
        public var revision: String

        public init(shard: String, epoch: UInt64, units: Set<Int>, revision: String = "") {
            self.shard = shard
            self.epoch = epoch
            self.units = units
            self.revision = revision
        }
    }

    public struct Member: Sendable, Equatable {
        /// The shard the member is placed in; nil for an unreported member whose shard is not
        /// known (it may hold units of any shard).
        public var shard: String?
        /// Whether a session with its proxy is open (specs can be sent, acks received).
        public var connected = false
        /// Whether it has reported its spec to this planner; until then its holdings are a
        /// guess: everything of its shard's that no other shard is known to hold.
        public var reported = true
        /// The specs it may be enforcing, oldest first.
        public var holdings: [Holding]
        /// The last epoch it acknowledged on its current session.
        public var ackedEpoch: UInt64?
        /// The epoch last sent on its current session.
        public var sentEpoch: UInt64?
    }

    /// A spec to send to one member's proxy.
    public struct Send: Sendable, Equatable {
        public var member: String
        public var spec: Holding
    }

    /// How units find their target shard.
    public enum Targeting: Sendable, Equatable {
        /// Slots spread evenly over the live shards, moving as few as possible.
        case balanced
        /// Unit i belongs to the i-th named shard whether or not it is live.
        case fixed([String])
    }

    public let unitCount: Int
    public let targeting: Targeting
    /// The revision of the specs this planner issues.
    public let revision: String
    /// Shards that own nothing (spare pods).
    public let spareShard: String?
    /// The canary pods' shard: while it is live it owns exactly `canaryUnits` and takes no
    /// part in balancing (when it is the only live shard, it owns everything).
    public let canaryShard: String?
    /// The canary's share of the units, set by the rollout.
    public var canaryUnits: Set<Int> = []
    /// The shard each unit should end up in.
    public private(set) var target: [String?]
    public private(set) var members: [String: Member] = [:]
    /// The spec most recently issued to each shard.
    public private(set) var shardSpecs: [String: Holding] = [:]
    /// The shard holding each unit and the epoch it was granted at: what the fence at the API
    /// server must have recorded before a spec granting the unit may be sent.
    public private(set) var grants: [Int: ShardGrants.Grant]
    /// The highest epoch issued or reported: the next spec gets a higher one.
    public private(set) var epoch: UInt64
    /// The highest epoch this planner minted. A reported spec is adopted only above it, so the
    /// specs any one member is sent carry distinct, rising epochs and an ack names one of them.
    var minted: UInt64 = 0

    /// A planner starting from a persisted target (a new manager adopts its predecessor's).
    public init(unitCount: Int, targeting: Targeting, spareShard: String? = nil, canaryShard: String? = nil, target: [String?]? = nil,
                epoch: UInt64 = 0, revision: String = "", grants: [Int: ShardGrants.Grant] = [:]) {
        precondition(unitCount > 0)
        self.grants = grants.filter { $0.key < unitCount }
        self.unitCount = unitCount
        self.revision = revision
        self.targeting = targeting
        self.spareShard = spareShard
        self.canaryShard = canaryShard
        self.epoch = epoch
        if case .fixed(let names) = targeting {
            self.target = (0..<unitCount).map { $0 < names.count ? names[$0] : nil }
        } else if let target, target.count == unitCount {
            self.target = target
        } else {
            self.target = Array(repeating: nil, count: unitCount)
        }
    }

    // MARK: Events

    /// A member whose liveness lease is current but who has not reported to this planner: it
    /// may enforce any spec its shard (any shard, when nil) was ever issued. Since no two
    /// shards ever hold a unit at once, that is every unit no member of another shard is known
    /// to hold. While any member is unreported the target stays as it is, so a new manager
    /// adopts its predecessor's assignment instead of re-planning from a partial view.
    public mutating func memberAlive(_ id: String, shard: String?) {
        guard members[id] == nil else { return }
        let label = shard ?? HandoverPlanner.anyShard
        var member = Member(shard: shard, holdings: [Holding(shard: label, epoch: 0, units: Set(0..<unitCount))])
        member.reported = false
        members[id] = member
    }

    /// The holder label of an unreported member of unknown shard: it blocks every shard.
    static let anyShard = "*"

    /// A member's proxy opened a session and reported the spec it enforces (nil: none). Only
    /// that spec counts from now on: specs sent on an earlier session can no longer arrive.
    /// A member of no shard (`shard` nil) is sent nothing; what it reported counts until it
    /// dies or the caller learns it was dropped.
    public mutating func registered(_ id: String, shard: String?, applied: Holding?) {
        var member = Member(shard: shard, holdings: applied.map { [$0] } ?? [])
        member.connected = true
        member.ackedEpoch = applied?.epoch
        members[id] = member
        if let applied { epoch = max(epoch, applied.epoch) }
    }

    /// The member's session ended; what it may hold stays until it reports again or dies.
    public mutating func disconnected(_ id: String) {
        members[id]?.connected = false
        members[id]?.sentEpoch = nil
        members[id]?.ackedEpoch = nil
    }

    /// The member applied the spec of `epoch`: every spec before it is gone from its proxy.
    public mutating func acknowledged(_ id: String, epoch acked: UInt64) {
        guard var member = members[id], member.connected else { return }
        // Holdings are in the order sent; epochs alone may repeat or go back across managers.
        guard let index = member.holdings.lastIndex(where: { $0.epoch == acked }) else { return }
        member.holdings.removeFirst(index)
        member.ackedEpoch = acked
        members[id] = member
    }

    /// The member's lease expired by more than its duration plus the skew margin (or it was
    /// released after the proxy fenced itself): it enforces nothing any more.
    public mutating func died(_ id: String) {
        members[id] = nil
    }

    // MARK: Decisions

    /// The shards that have at least one member.
    public var liveShards: Set<String> {
        Set(members.values.compactMap(\.shard)).subtracting(spareShard.map { [$0] } ?? [])
    }

    /// Re-targets units over the live shards, then issues every shard the spec it may have
    /// now and returns the sends that bring connected members up to date.
    public mutating func step() -> [Send] {
        if case .balanced = targeting, members.values.allSatisfy(\.reported) {
            var live = liveShards
            var pinned: [Int: String] = [:]
            if let canaryShard, live.remove(canaryShard) != nil {
                let units = live.isEmpty ? Set(0..<unitCount) : canaryUnits
                for unit in units where unit < unitCount { pinned[unit] = canaryShard }
            }
            // With no member at all the last target stands: the shards may come back.
            if !live.isEmpty || !pinned.isEmpty { target = SlotAssignment(owners: target).rebalanced(for: live, pinned: pinned).owners }
        }
        let blockers = holders()
        var shards = liveShards
        if let spareShard, members.values.contains(where: { $0.shard == spareShard }) { shards.insert(spareShard) }
        for shard in shards.sorted() {
            let wanted = shard == spareShard ? [] : grantable(to: shard, blockers: blockers)
            if shardSpecs[shard]?.units != wanted || shardSpecs[shard]?.revision != revision {
                let previous = shardSpecs[shard]?.units ?? []
                if let enforced = enforcedSpec(of: shard, units: wanted) {
                    // Its members already enforce exactly this (a new manager adopting them).
                    shardSpecs[shard] = enforced
                } else {
                    epoch += 1
                    minted = epoch
                    shardSpecs[shard] = Holding(shard: shard, epoch: epoch, units: wanted, revision: revision)
                }
                let issued = shardSpecs[shard]!
                for unit in wanted where grants[unit]?.shard != shard { grants[unit] = ShardGrants.Grant(shard: shard, epoch: issued.epoch) }
                for unit in previous.subtracting(wanted) where grants[unit]?.shard == shard { grants[unit] = nil }
            }
        }
        var sends: [Send] = []
        for id in members.keys.sorted() {
            guard var member = members[id], member.connected, let shard = member.shard, let spec = shardSpecs[shard],
                  member.sentEpoch != spec.epoch else { continue }
            // Already enforcing exactly this spec (epochs alone may repeat across managers).
            if member.holdings == [spec] { continue }
            member.holdings.append(spec)
            member.sentEpoch = spec.epoch
            members[id] = member
            sends.append(Send(member: id, spec: spec))
        }
        return sends
    }

    /// A spec with these units that a reported member of the shard already enforces, from
    /// above every epoch this planner minted (epochs of other managers may repeat).
    func enforcedSpec(of shard: String, units: Set<Int>) -> Holding? {
        members.values.lazy.filter { $0.reported && $0.shard == shard && $0.holdings.count == 1 }
            .map { $0.holdings[0] }.first { $0.shard == shard && $0.units == units && $0.revision == revision && $0.epoch > self.minted }
    }

    /// For each unit, the shards whose members may hold it. An unreported member counts for
    /// a unit only when no reported member of another shard holds it: a shard that is known to
    /// hold a unit keeps it while a peer of another shard has yet to report.
    func holders() -> [Set<String>] {
        var known = [Set<String>](repeating: [], count: unitCount)
        for member in members.values where member.reported {
            for holding in member.holdings {
                for unit in holding.units where unit < unitCount { known[unit].insert(holding.shard) }
            }
        }
        var result = known
        for member in members.values where !member.reported {
            let label = member.shard ?? HandoverPlanner.anyShard
            for unit in 0..<unitCount where known[unit].isSubset(of: [label]) { result[unit].insert(label) }
        }
        return result
    }

    func grantable(to shard: String, blockers: [Set<String>]) -> Set<Int> {
        var units = Set<Int>()
        for unit in 0..<unitCount where target[unit] == shard {
            if blockers[unit].isSubset(of: [shard]) { units.insert(unit) }
        }
        return units
    }

    // MARK: Reading

    /// Whether every unit is held by its target shard alone and every connected member has
    /// acknowledged its shard's spec.
    public var converged: Bool {
        for unit in 0..<unitCount {
            guard let owner = target[unit], shardSpecs[owner]?.units.contains(unit) == true else { return false }
        }
        return members.values.allSatisfy { member in
            guard let shard = member.shard, let spec = shardSpecs[shard] else { return false }
            return member.connected && member.ackedEpoch == spec.epoch && member.holdings == [spec]
        }
    }

    /// The units each shard's current spec grants.
    public func units(of shard: String) -> Set<Int> { shardSpecs[shard]?.units ?? [] }

    /// The units the target puts in `shard`.
    public func targetUnits(of shard: String) -> Set<Int> {
        Set(target.indices.filter { target[$0] == shard })
    }
}
