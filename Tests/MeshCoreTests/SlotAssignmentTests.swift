import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

@Suite struct SlotAssignmentTests {
    @Test func slotsTileTheHashSpace() {
        for slots in [1, 2, 8, 256] {
            let assignment = SlotAssignment(slots: slots)
            var next: UInt64? = 0
            for slot in 0..<slots {
                let range = assignment.range(ofSlot: slot)
                #expect(range.start == next)
                next = range.endExclusive
            }
            #expect(next == nil, "the last slot ends at 2^64")
        }
    }

    /// The slot a hash falls in is the one whose range holds it.
    @Test func slotOfAHashHoldsIt() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let slots = 1 << random.int(0...12)
            let hash = random.next()
            #expect(SlotAssignment(slots: slots).range(ofSlot: SlotAssignment.slot(of: hash, slots: slots)).contains(hash))
        }
    }

    @Test func rangesMergeAdjacentSlots() {
        let assignment = SlotAssignment(owners: ["a", "a", "b", "a"])
        #expect(assignment.ranges(of: "a") == [HashRange(start: 0, last: (1 << 63) - 1), HashRange(start: 3 << 62, last: .max)])
        #expect(assignment.ranges(of: "b") == [HashRange(start: 1 << 63, last: (3 << 62) - 1)])
    }

    /// From any previous assignment to any set of shards: every slot owned by a live shard,
    /// balanced within one slot, and only the unavoidable slots move.
    @Test func balancedAndMinimalFromAnyStart() async {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let slots = 1 << random.int(0...8)
            let universe = (0..<8).map { "s\($0)" }
            let before = SlotAssignment(owners: (0..<slots).map { _ in random.chance(10) ? nil : universe[random.int(0...7)] })
            let shards = Set(universe.filter { _ in random.chance(50) })
            let after = before.rebalanced(for: shards)
            if shards.isEmpty {
                #expect(after.owners.allSatisfy { $0 == nil })
                return
            }
            #expect(after.owners.allSatisfy { $0.map(shards.contains) == true })
            let counts = shards.map { after.counts()[$0] ?? 0 }
            #expect(counts.max()! - counts.min()! <= 1)
            // The fewest moves: the shards holding most keep the larger quotas.
            let held = before.counts()
            let base = slots / shards.count, extra = slots % shards.count
            let keepable = shards.sorted { (held[$0] ?? 0) > (held[$1] ?? 0) }.enumerated()
                .reduce(0) { $0 + min(held[$1.element] ?? 0, base + ($1.offset < extra ? 1 : 0)) }
            #expect(before.moves(to: after).count == slots - keepable)
            #expect(after.rebalanced(for: shards) == after, "a balanced assignment plans nothing")
        }
    }

    /// Pinned slots go to their shard; the rest balance over the shards as if the pinned ones
    /// did not exist, and growing the pinned set moves no slot but the newly pinned ones and
    /// the few that rebalance the stable shards.
    @Test func pinnedSlotsGoToTheirShardAndTheRestBalance() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let slots = 1 << random.int(0...8)
            let shards = Set((0..<random.int(1...5)).map { "s\($0)" })
            let start = SlotAssignment(slots: slots).rebalanced(for: shards)
            let pinnedCount = random.int(0...slots)
            let pinned = Dictionary(uniqueKeysWithValues: (0..<pinnedCount).map { ($0, "canary") })
            let after = start.rebalanced(for: shards, pinned: pinned)
            for slot in 0..<slots {
                if slot < pinnedCount { #expect(after.owners[slot] == "canary") } else { #expect(after.owners[slot].map(shards.contains) == true) }
            }
            let counts = shards.map { shard in after.owners.filter { $0 == shard }.count }
            #expect(counts.max()! - counts.min()! <= 1)
            let stableMoves = start.moves(to: after).filter { $0.to != "canary" }.count
            #expect(stableMoves <= pinnedCount, "seed \(seed): \(stableMoves) stable moves for \(pinnedCount) pinned slots")
            #expect(after.rebalanced(for: shards, pinned: pinned) == after, "a balanced assignment plans nothing")
            // Unpinned again: the canary's slots go back and the balance is restored.
            let back = after.rebalanced(for: shards)
            #expect(back.owners.allSatisfy { $0.map(shards.contains) == true })
        }
    }

    @Test func addingAShardTakesAFairShareFromEachOther() {
        let three = SlotAssignment(slots: 256).rebalanced(for: ["a", "b", "c"])
        let four = three.rebalanced(for: ["a", "b", "c", "d"])
        let moves = three.moves(to: four)
        #expect(moves.count == 64)
        #expect(moves.allSatisfy { $0.to == "d" })
        #expect(Set(moves.compactMap(\.from)) == ["a", "b", "c"])
        let back = four.rebalanced(for: ["a", "b", "c"])
        #expect(four.moves(to: back).allSatisfy { $0.from == "d" })
    }
}
