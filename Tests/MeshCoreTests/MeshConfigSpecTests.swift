import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

@Suite struct MeshConfigSpecTests {
    static let config = MeshConfig(name: "op", namespace: "ns", podSelector: .everything,
                                   resources: [.init(apiGroups: ["apps.kruise.io"], resources: ["clonesets"], key: .object)],
                                   mode: .objectHash, maxShards: nil, replicasPerShard: 2, slots: 64,
                                   leaderElection: .init(namespace: "ns", name: "lock"))

    @Test func placementByOrdinalLabelAndLimit() {
        var config = MeshConfigSpecTests.config
        #expect(config.placement(podName: "op-0", labels: [:]) == .shard("op-0"))
        #expect(config.placement(podName: "op-3", labels: [:]) == .shard("op-1"))
        #expect(config.placement(podName: "op-x", labels: [MeshConfig.shardIndexLabel: "4"]) == .shard("op-4"))
        #expect(config.placement(podName: "op", labels: [:]) == nil)
        config.maxShards = 2
        #expect(config.placement(podName: "op-4", labels: [:]) == .spare)
    }

    /// A spec built from units reads back as exactly those units, and its JSON wire form
    /// round-trips.
    @Test func unitsRoundTripThroughSpecsAndJSON() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let units = Set((0..<64).filter { _ in random.chance(40) })
            let spec = MeshConfigSpecTests.config.spec(shard: "op-1", units: units, epoch: UInt64(random.int(0...1000)))
            #expect(MeshConfigSpecTests.config.units(of: spec) == units)
            #expect((try? ShardSpec(json: spec.json)) == spec)
            #expect(MeshConfig.slots(fromText: MeshConfig.slotText(units), limit: 64) == units)
        }
    }

    /// A spec of another layout is read conservatively: every slot it touches counts.
    @Test func foreignSpecsOverCount() {
        let config = MeshConfigSpecTests.config
        let half = ShardSpec(shard: "x", epoch: 1, resources: [], owned: .init(objectHashRanges: [HashRange(start: 1, last: 1 << 62)]))
        #expect(config.units(of: half) == Set(0...16), "slots 0 through 16 each hold part of the range")
        let named = ShardSpec(shard: "x", epoch: 1, resources: [], owned: .init(namespaces: ["team-a"]))
        #expect(config.units(of: named).count == 64, "named namespaces may hash anywhere")
    }
}
