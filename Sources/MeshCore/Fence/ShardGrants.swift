import KubeModel

/// Which shard holds each unit (hash slot, or namespace set) of one ShardingConfig, and the
/// epoch it was granted at: the record the fence at the API server judges stamped writes by,
/// kept in the config's `status.grants`. The manager writes it before it sends a spec that
/// grants a unit, so every write of a new owner lands after the record that refuses the old
/// owner's. `term` orders writers: a record is only replaced by one of the same or a later
/// manager term, so a paused former leader cannot put back what it knew.
public struct ShardGrants: Sendable, Equatable {
    public struct Grant: Sendable, Hashable {
        public var shard: String
        public var epoch: UInt64

        public init(shard: String, epoch: UInt64) {
            self.shard = shard
            self.epoch = epoch
        }
    }

    public var term: UInt64
    public var units: [Int: Grant]

    public init(term: UInt64 = 0, units: [Int: Grant] = [:]) {
        self.term = term
        self.units = units
    }

    /// `{"term": 3, "holders": [{"shard": "s-0", "epoch": 12, "units": "0-63"}, …]}`.
    public var json: JSON {
        var groups: [Grant: Set<Int>] = [:]
        for (unit, grant) in units { groups[grant, default: []].insert(unit) }
        let holders = groups.sorted { ($0.key.shard, $0.key.epoch) < ($1.key.shard, $1.key.epoch) }.map { grant, units -> JSON in
            ["shard": .string(grant.shard), "epoch": .number(String(grant.epoch)), "units": .string(MeshConfig.slotText(units))]
        }
        return ["term": .number(String(term)), "holders": .array(holders)]
    }

    /// Reads a record; nil when it is absent or cannot be read whole (the fence then holds
    /// every unit ungranted, and the manager's record replaces it).
    public init?(json: JSON?, unitCount: Int) {
        guard let json, case .object = json, let term = json["term"]?.intValue, term >= 0,
              let holders = json["holders"]?.arrayValue else { return nil }
        var units: [Int: Grant] = [:]
        for holder in holders {
            guard let shard = holder["shard"]?.stringValue, !shard.isEmpty, let epoch = holder["epoch"]?.intValue, epoch >= 0,
                  let text = holder["units"]?.stringValue, let set = MeshConfig.slots(fromText: text, limit: unitCount) else { return nil }
            for unit in set {
                guard units[unit] == nil else { return nil }
                units[unit] = Grant(shard: shard, epoch: UInt64(epoch))
            }
        }
        self.init(term: UInt64(term), units: units)
    }

    /// Whether a spec of `shard` at `epoch` granting `units` may be sent: each of its units is
    /// recorded as the shard's, granted at or before that epoch.
    public func covers(shard: String, epoch: UInt64, units wanted: Set<Int>) -> Bool {
        wanted.allSatisfy { unit in units[unit].map { $0.shard == shard && $0.epoch <= epoch } ?? false }
    }
}
