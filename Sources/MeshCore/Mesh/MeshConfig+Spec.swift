import KubeModel

extension MeshConfig {
    /// The spec a shard's proxies enforce while it holds `units` (slots in hash modes, set
    /// indices in `namespaceSets` mode) at `epoch`.
    public func spec(shard: String, units: Set<Int>, epoch: UInt64) -> ShardSpec {
        var owned = ShardSpec.OwnedKeys()
        switch mode {
        case .objectHash:
            owned.objectHashRanges = MeshConfig.ranges(ofSlots: units, slots: slots)
        case .namespaceHash:
            owned.namespaceHashRanges = MeshConfig.ranges(ofSlots: units, slots: slots)
        case .namespaceSets(let sets):
            for index in units.sorted() where index < sets.count {
                owned.namespaces.formUnion(sets[index].namespaces)
                owned.namespaceSelectors += sets[index].selectors
                owned.namespacePatterns += sets[index].regexes
            }
        }
        return ShardSpec(shard: shard, epoch: epoch, resources: resources, owned: owned, leaderElection: leaderElection, mesh: key)
    }

    /// Slots as the fewest hash ranges, adjacent slots merged.
    public static func ranges(ofSlots units: Set<Int>, slots: Int) -> [HashRange] {
        var owners = [String?](repeating: nil, count: slots)
        for unit in units where unit < slots { owners[unit] = "" }
        return SlotAssignment(owners: owners).ranges(of: "")
    }

    /// Slots as compact text, e.g. "0-84,170,200-255": how status records an assignment.
    public static func slotText(_ units: Set<Int>) -> String {
        var parts: [String] = []
        var runStart: Int?
        var previous = -2
        for unit in units.sorted() {
            if unit != previous + 1 {
                if let start = runStart { parts.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
                runStart = unit
            }
            previous = unit
        }
        if let start = runStart { parts.append(start == previous ? "\(start)" : "\(start)-\(previous)") }
        return parts.joined(separator: ",")
    }

    /// Parses `slotText`; nil when malformed or out of `0..<limit`.
    public static func slots(fromText text: String, limit: Int) -> Set<Int>? {
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let bounds = part.split(separator: "-", maxSplits: 1)
            guard let low = Int(bounds[0]), let high = bounds.count == 2 ? Int(bounds[1]) : low,
                  low >= 0, low <= high, high < limit else { return nil }
            result.formUnion(low...high)
        }
        return result
    }
}

extension MeshConfig {
    /// The units a spec may let its proxy write, judged conservatively: a slot counts when any
    /// part of it is owned, a namespace set when any of its clauses appears. A proxy's report
    /// is read this way, so a spec from an older layout can only over-count.
    public func units(of spec: ShardSpec) -> Set<Int> {
        let owned = spec.owned
        let byName = !owned.namespaces.isEmpty || !owned.namespaceSelectors.isEmpty || !owned.namespacePatterns.isEmpty
        let byHash = !owned.objectHashRanges.isEmpty || !owned.namespaceHashRanges.isEmpty
        switch mode {
        case .objectHash, .namespaceHash:
            // Named namespaces may hash anywhere.
            if byName { return Set(0..<slots) }
            let ranges = spec.owned.objectHashRanges + spec.owned.namespaceHashRanges
            let layout = SlotAssignment(slots: slots)
            return Set((0..<slots).filter { slot in
                let range = layout.range(ofSlot: slot)
                return ranges.contains { $0.start <= range.last && range.start <= $0.last }
            })
        case .namespaceSets(let sets):
            if byHash { return Set(sets.indices) }
            return Set(sets.indices.filter { index in
                let set = sets[index]
                return set.namespaces.contains(where: spec.owned.namespaces.contains)
                    || set.selectors.contains(where: spec.owned.namespaceSelectors.contains)
                    || set.regexes.contains(where: spec.owned.namespacePatterns.contains)
            })
        }
    }
}

extension MeshConfig {
    /// A digest of everything a spec carries besides its owned keys: the sharded resources and
    /// the lock. A proxy enforcing a spec of another revision is sent a new one.
    public var specRevision: String { MeshConfig.revision(resources: resources, lock: leaderElection) }

    /// The revision of a spec as a proxy reported it.
    public static func revision(of spec: ShardSpec) -> String { revision(resources: spec.resources, lock: spec.leaderElection) }

    static func revision(resources: [ShardSpec.ResourceRule], lock: ShardSpec.LeaderElectionLock?) -> String {
        // The spec's wire form with its shard, epoch and keys blanked: only the rest counts.
        let probe = ShardSpec(shard: "x", epoch: 0, resources: resources, owned: .init(), leaderElection: lock)
        return String(FNV1a64.hash(probe.json.jsonString), radix: 16)
    }
}
