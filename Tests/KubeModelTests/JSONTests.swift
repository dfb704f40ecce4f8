import KubeModel
import PropertyBased
import Testing

@Suite struct JSONTests {
    @Test func keepsKeyOrderAndNumberLiterals() throws {
        let text = #"{"z":1,"a":{"big":9223372036854775807,"f":1.50},"list":[true,null,"x\n\u00e9"]}"#
        let value = try JSON.parse(text)
        #expect(value.jsonString == #"{"z":1,"a":{"big":9223372036854775807,"f":1.50},"list":[true,null,"x\né"]}"#)
        #expect(value["a"]?["big"]?.intValue == Int64.max)
    }

    @Test func repeatedKeyKeepsLastValue() throws {
        #expect(try JSON.parse(#"{"a":1,"a":2}"#) == ["a": 2])
    }

    @Test(arguments: ["", "{", "[1,]", #"{"a"}"#, "tru", "01", "1.", #""\x""#, "[1] 2", String(repeating: "[", count: 300)])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func surrogatePairs() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func roundTripsGeneratedValues() async {
        let leaf = Gen.oneOf(
            Gen.int(in: -1_000_000...1_000_000).map { JSON.int($0) },
            Gen.letterOrNumber.string(of: 0...8).map { JSON.string($0) },
            Gen.bool.map { JSON.bool($0) })
        let keys = Gen.letterOrNumber.string(of: 1...5).array(of: 4)
        await propertyCheck(count: 300, input: keys, leaf.array(of: 4), leaf.array(of: 0...5)) { keys, values, list in
            let pairs: [(String, JSON)] = Array(zip(keys, values))
            let value: JSON = ["object": .object(JSONObject(pairs)), "list": .array(list)]
            guard let parsed = try? JSON.parse(value.serialized()) else {
                Issue.record("did not parse its own output: \(value.jsonString)")
                return
            }
            #expect(parsed == value)
            #expect(parsed.serialized() == value.serialized())
        }
    }

    @Test func equalityIgnoresKeyOrderAndNumberSpelling() throws {
        #expect(try JSON.parse(#"{"a":1,"b":[1.0]}"#) == JSON.parse(#"{"b":[1],"a":1}"#))
        #expect(try JSON.parse(#"{"a":1}"#) != JSON.parse(#"{"a":"1"}"#))
    }
}

@Suite struct JSONListParsingTests {
    /// Whatever the items, each one arrives as exactly its own bytes with its parsed value,
    /// in order, and the list comes back with its metadata and no items.
    @Test func handsOutEachItemsExactBytes() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...30)) { count in
            let items: [JSON] = (0..<count).map { i in
                ["metadata": ["name": .string("n\(i)\"\\"), "labels": ["k": .string(String(repeating: "[", count: i % 5))]],
                 "spec": .array((0..<(i % 3)).map { .int($0) }), "items": ["nested": true]]
            }
            let list: JSON = ["kind": "PodList", "apiVersion": "v1", "metadata": ["resourceVersion": "42", "continue": "c"],
                              "items": .array(items)]
            let text = list.serialized()
            var seen: [(bytes: [UInt8], value: JSON)] = []
            let rest = try? text.withUnsafeBufferPointer { bytes in
                try JSON.parseList(bytes) { slice, value in seen.append((Array(slice), value)) }
            }
            #expect(rest?["items"] == .array([]))
            #expect(rest?["metadata"]?["resourceVersion"] == "42")
            #expect(seen.map(\.value) == items)
            #expect(seen.map(\.bytes) == items.map { $0.serialized() })
        }
    }

    @Test func rejectsWhatIsNotAList() {
        for bad in ["[]", "{\"items\":[1,}", "{\"items\":[]} x", ""] {
            #expect(throws: JSONParseError.self) {
                try Array(bad.utf8).withUnsafeBufferPointer { bytes in try JSON.parseList(bytes) { _, _ in } }
            }
        }
    }
}
