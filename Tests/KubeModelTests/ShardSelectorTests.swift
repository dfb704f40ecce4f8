import KubeModel
import PropertyBased
import Testing

@Suite struct FNVTests {
    @Test func knownVectors() {
        #expect(FNV1a64.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a64.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a64.hash("foobar") == 0x8594_4171_f739_67e8)
    }
}

@Suite struct ShardSelectorTests {
    @Test func parsesRangesAndEchoesCanonically() throws {
        let s = try ShardSelector(parsing: "shardRange(object.metadata.uid, '0x0', '0x8000000000000000') || shardRange(object.metadata.uid,'0x8000000000000000','0x10000000000000000')")
        #expect(s.field == .uid)
        #expect(s.ranges == [HashRange(start: 0, last: 0x7FFF_FFFF_FFFF_FFFF), HashRange(start: 0x8000_0000_0000_0000, last: .max)])
        #expect(try ShardSelector(parsing: s.description) == s)
        #expect(s.description.hasPrefix("shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')"))
    }

    /// A selector whose ranges are all empty matches nothing, and writes back as a selector
    /// that reads as the same (found by the fuzzer: it wrote back as "").
    @Test func aSelectorOfNoRangesReadsBack() throws {
        let none = try ShardSelector(parsing: "shardRange(object.metadata.uid,'0x8', '0x00000000008')")
        #expect(none.ranges.isEmpty && !none.matches(hash: 8))
        #expect(try ShardSelector(parsing: none.description) == none)
    }

    @Test(arguments: [
        "shardRange(object.metadata.name, '0x0', '0x1')", "shardRange(object.metadata.uid, 0x0, '0x1')",
        "shardRange(object.metadata.uid, '0x2', '0x1')", "shardRange(object.metadata.uid, '0x0')",
        "shardRange(object.metadata.uid, '0x0', '0x1') || shardRange(object.metadata.namespace, '0x0', '0x1')",
        "range(object.metadata.uid, '0x0', '0x1')", "shardRange(object.metadata.uid, '0x0', '0x20000000000000000')",
    ])
    func rejects(_ text: String) {
        #expect(throws: ShardSelectorParseError.self) { try ShardSelector(parsing: text) }
    }

    /// Splitting the space at any point gives two selectors that together match every key
    /// exactly once.
    @Test func splitsPartitionTheSpace() async {
        await propertyCheck(count: 500, input: Gen.uint64(), Gen.letterOrNumber.string(of: 0...20)) { cut, key in
            let low = HashRange(start: 0, endExclusive: cut).map { [$0] } ?? []
            let high = [HashRange(start: cut, endExclusive: nil)!]
            let a = ShardSelector(field: .uid, ranges: low)
            let b = ShardSelector(field: .uid, ranges: high)
            #expect(a.matches(fieldValue: key) != b.matches(fieldValue: key))
        }
    }
}
