@testable import MeshCore
import PropertyBased
import Testing

@Suite struct OwnershipAuditTests {
    typealias W = OwnershipAudit.Write

    @Test func aCleanHandoverPasses() {
        let writes = [W(resourceVersion: 1, key: "k", shard: "a", epoch: 3), W(resourceVersion: 5, key: "k", shard: "a", epoch: 3),
                      W(resourceVersion: 9, key: "k", shard: "b", epoch: 7), W(resourceVersion: 12, key: "k", shard: "a", epoch: 11)]
        let report = OwnershipAudit.check(writes)
        #expect(report.violations.isEmpty)
        #expect(report.keys == 1 && report.keysMoved == 1 && report.writes == 4)
    }

    @Test func interleavedWritesUnderOneEpochFail() {
        let writes = [W(resourceVersion: 1, key: "k", shard: "a", epoch: 3), W(resourceVersion: 4, key: "k", shard: "b", epoch: 7),
                      W(resourceVersion: 6, key: "k", shard: "a", epoch: 3), W(resourceVersion: 8, key: "other", shard: "c", epoch: 1)]
        let report = OwnershipAudit.check(writes)
        #expect(report.violations.count == 1)
        #expect(report.violations.first?.key == "k")
        #expect(report.violations.first.map { "\($0)" }?.contains("a@3 wrote at rv 1...6 while b@7 wrote at rv 4...4") == true)
    }

    /// Against a brute-force oracle: a violation exists exactly when some write of one shard
    /// falls between two writes of another shard made under the same epoch.
    @Test func matchesABruteForceOracle() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let writes = (0..<random.int(0...30)).map { rv in
                W(resourceVersion: UInt64(rv), key: "k\(random.int(0...2))", shard: "s\(random.int(0...2))", epoch: UInt64(random.int(0...2)))
            }
            var oracle = Set<String>()
            for a in writes {
                for b in writes where b.key == a.key && b.shard == a.shard && b.epoch == a.epoch && b.resourceVersion > a.resourceVersion {
                    if writes.contains(where: { $0.key == a.key && $0.shard != a.shard && $0.resourceVersion > a.resourceVersion && $0.resourceVersion < b.resourceVersion }) {
                        oracle.insert(a.key)
                    }
                }
            }
            // Two single-write spans of different shards at one rv cannot happen (one write per rv).
            let found = Set(OwnershipAudit.check(writes).violations.map(\.key))
            #expect(found == oracle, "seed \(seed)")
        }
    }
}

@Suite struct MemberLivenessTests {
    @Test func deadOnlyAfterDurationPlusSkewWithoutChange() {
        var liveness = MemberLiveness(skew: .seconds(2))
        let t0 = ContinuousClock.now
        liveness.observeLease("m", renewTime: "r1", duration: .seconds(10), at: t0)
        liveness.observeLease("m", renewTime: "r1", duration: .seconds(10), at: t0 + .seconds(11))
        #expect(liveness.expired(at: t0 + .seconds(11)).isEmpty, "within duration + skew")
        #expect(liveness.expired(at: t0 + .milliseconds(12_001)) == ["m"])
        // A renewal seen resets the clock; the renewTime's own value is never compared to ours.
        liveness.observeLease("m", renewTime: "r0-older-looking", duration: .seconds(10), at: t0 + .seconds(12))
        #expect(liveness.expired(at: t0 + .seconds(20)).isEmpty)
        liveness.heardFrom("m", duration: .seconds(10), at: t0 + .seconds(21))
        #expect(liveness.expired(at: t0 + .seconds(32)).isEmpty)
        #expect(liveness.expired(at: t0 + .seconds(34)) == ["m"])
        liveness.forget("m")
        #expect(!liveness.isKnown("m") && liveness.expired(at: t0 + .seconds(100)).isEmpty)
    }
}
