import KubeModel

/// Which shard owns each slot of the hash space. The space [0, 2^64) is cut into `slots`
/// equal slots — many more than shards — so adding or removing a shard moves a few slots from
/// each of the others rather than re-cutting the space. Groundwork for the mesh manager: pure
/// and deterministic, so a manager that restarts with the same persisted assignment and the
/// same shards plans nothing.
public struct SlotAssignment: Equatable, Sendable {
    /// `owners[i]` owns slot i; nil while no shard exists.
    public private(set) var owners: [String?]

    public init(slots: Int) {
        precondition(slots > 0 && slots.nonzeroBitCount == 1, "the slot count must be a power of two")
        owners = Array(repeating: nil, count: slots)
    }

    public init(owners: [String?]) {
        precondition(!owners.isEmpty && owners.count.nonzeroBitCount == 1, "the slot count must be a power of two")
        self.owners = owners
    }

    public var slots: Int { owners.count }

    /// The slot of `slots` (a power of two) whose range holds `hash`.
    public static func slot(of hash: UInt64, slots: Int) -> Int {
        slots == 1 ? 0 : Int(hash >> UInt64(64 - slots.trailingZeroBitCount))
    }

    /// The hash range of one slot.
    public func range(ofSlot slot: Int) -> HashRange {
        if slots == 1 { return .all }
        let shift = UInt64(64 - slots.trailingZeroBitCount)
        let start = UInt64(slot) << shift
        return HashRange(start: start, last: start + ((1 << shift) - 1))
    }

    /// A shard's slots as the fewest ranges (adjacent slots merged).
    public func ranges(of shard: String) -> [HashRange] {
        var ranges: [HashRange] = []
        for slot in owners.indices where owners[slot] == shard {
            let range = range(ofSlot: slot)
            if let last = ranges.last, last.last != .max, last.last + 1 == range.start {
                ranges[ranges.count - 1] = HashRange(start: last.start, last: range.last)
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }

    /// Slots per shard.
    public func counts() -> [String: Int] {
        owners.reduce(into: [:]) { counts, owner in if let owner { counts[owner, default: 0] += 1 } }
    }

    /// The assignment for `shards`: every slot not pinned owned, each shard holding ⌊free/n⌋
    /// or ⌈free/n⌉ of the free slots, and as few slots as possible changing owner. Slots keep
    /// their owner while it remains and is within its quota; the rest go to the shards below
    /// quota. `pinned` slots go to the shard named for them (a canary's share) whatever the
    /// balance. Deterministic: quotas go by sorted shard name, free slots in slot order.
    public func rebalanced(for shards: Set<String>, pinned: [Int: String] = [:]) -> SlotAssignment {
        var result = owners.indices.map { pinned[$0] }
        let open = owners.indices.filter { pinned[$0] == nil }
        guard !shards.isEmpty, !open.isEmpty else { return SlotAssignment(owners: result) }
        let names = shards.sorted()
        let base = open.count / names.count
        let extra = open.count % names.count
        // The shards that already hold the most keep the larger quotas, so fewer slots move.
        let held = open.reduce(into: [String: Int]()) { counts, slot in if let owner = owners[slot] { counts[owner, default: 0] += 1 } }
        let byHolding = names.sorted { (held[$0] ?? 0, $1) > (held[$1] ?? 0, $0) }
        var quota: [String: Int] = [:]
        for (i, name) in byHolding.enumerated() { quota[name] = base + (i < extra ? 1 : 0) }

        var kept: [String: Int] = [:]
        var free: [Int] = []
        for slot in open {
            if let owner = owners[slot], let limit = quota[owner], kept[owner, default: 0] < limit {
                kept[owner, default: 0] += 1
                result[slot] = owner
            } else {
                free.append(slot)
            }
        }
        var next = free.makeIterator()
        for name in names {
            for _ in kept[name, default: 0]..<quota[name]! {
                result[next.next()!] = name
            }
        }
        return SlotAssignment(owners: result)
    }

    /// The slots whose owner differs between two assignments of the same size.
    public func moves(to other: SlotAssignment) -> [(slot: Int, from: String?, to: String?)] {
        precondition(other.slots == slots, "assignments of different sizes")
        return owners.indices.compactMap { slot in
            owners[slot] == other.owners[slot] ? nil : (slot, owners[slot], other.owners[slot])
        }
    }
}
