import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

@Suite struct JSONListFilterTests {
    func run(_ body: [UInt8], chunks: [[UInt8]], keep: @escaping @Sendable (ObjectIdentity) -> Bool = fixtureKeep) throws -> (JSONListFilter, [UInt8]) {
        var filter = JSONListFilter(keep: keep)
        var out: [UInt8] = []
        for chunk in chunks {
            try chunk.withUnsafeBytes { try filter.consume($0, into: &out) }
        }
        try filter.finish()
        return (filter, out)
    }

    /// Whatever the chunking, the output is the list with only owned items, byte for byte.
    @Test func keepsExactlyOwnedItemsByteForByte() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let items = random.objects(count: random.int(0...40))
            let metadata: JSON = ["resourceVersion": "12345", "continue": .string(random.nasty())]
            let list: JSON = ["kind": "ThingList", "apiVersion": "v1", "metadata": metadata, "items": .array(items)]
            let expected: JSON = ["kind": "ThingList", "apiVersion": "v1", "metadata": metadata,
                                  "items": .array(items.filter { fixtureKeep(identity(of: $0)) })]
            let body = list.serialized()
            let (filter, out) = try #require(try? run(body, chunks: random.chunks(body)))
            #expect(out == expected.serialized())
            #expect(filter.kept + filter.dropped == items.count)
            #expect(filter.listResourceVersion == "12345")
            #expect(filter.continueToken == metadata["continue"]?.stringValue)
        }
    }

    @Test func readsIdentityFromEveryMetadataField() throws {
        let object: JSON = ["metadata": ["ownerReferences": [["uid": "u0"], ["uid": "ctl", "controller": true]],
                                         "labels": ["a": "b\"c"], "namespace": "ns\\1", "name": "n", "uid": "u1", "resourceVersion": "7"],
                            "kind": "K", "apiVersion": "g/v1"]
        let id = try object.serialized().withUnsafeBufferPointer { try JSONIdentityReader.object($0) }
        #expect(id.name == "n" && id.namespace == "ns\\1" && id.uid == "u1" && id.resourceVersion == "7")
        #expect(id.labels == ["a": "b\"c"] && id.controllerUID == "ctl" && id.kind == "K" && id.apiVersion == "g/v1")
    }

    @Test func tableRowsAreJudgedByTheirObject() throws {
        let rows: [JSON] = (0..<6).map { i in
            ["cells": [.string("x\(i)")], "object": ["kind": "PartialObjectMetadata", "metadata": ["name": .string("x\(i)"), "namespace": .string("ns-\(i % 2)")]]]
        }
        let table: JSON = ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": ["resourceVersion": "3"],
                           "columnDefinitions": [["name": "Name"]], "rows": .array(rows)]
        let body = table.serialized()
        let (_, out) = try run(body, chunks: [body]) { $0.namespace == "ns-0" }
        let kept = try JSON.parse(out)["rows"]?.arrayValue?.compactMap { $0["object"]?.name }
        #expect(kept == ["x0", "x2", "x4"])
    }

    @Test func listsTheServerFilteredForTheProxyPassWhole() throws {
        let list: JSON = ["kind": "L", "metadata": ["shardInfo": ["selector": "shardRange(...)"]], "items": [["metadata": ["name": "a"]]]]
        let body = list.serialized()
        var trusting = JSONListFilter(trustsServerShardInfo: true) { _ in false }
        var out: [UInt8] = []
        try body.withUnsafeBytes { try trusting.consume($0, into: &out) }
        #expect(trusting.serverFiltered && out == body)
        // A selector the client sent is not the shard's: its echo proves nothing.
        let (filter, judged) = try run(body, chunks: [body]) { _ in false }
        #expect(!filter.serverFiltered && filter.dropped == 1 && judged != body)
    }

    @Test(arguments: [
        #"{"items":[{"metadata":{}}"#, #"{"items":[{"metadata":{"name":"a"}},"#, #"{"items":[1]}"#, #"{"items":[{"metadata":{"name":"a}}]}"#,
        #"{"items":[{"metadata":{"name":"a"}}]"#, "",
        // A 200 whose body is no list (a Status, an object) is not passed on as one.
        #"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#, #"{"kind":"Pod","metadata":{"name":"a"}}"#, "{}",
        #"{"metadata":{"items":[]}}"#,
    ])
    func rejectsBrokenLists(_ text: String) {
        #expect(throws: FilterError.self) { try run(Array(text.utf8), chunks: [Array(text.utf8)]) }
    }

    /// Truncations and corruptions of valid lists never crash the filter: it either throws
    /// or passes bytes that it judged.
    @Test func survivesCorruption() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let list: JSON = ["kind": "L", "metadata": ["resourceVersion": "1"], "items": .array(random.objects(count: 5))]
            var body = list.serialized()
            switch random.int(0...2) {
            case 0: body = Array(body.prefix(random.int(0...body.count)))
            case 1: for _ in 0..<random.int(1...5) { body[random.int(0...(body.count - 1))] = UInt8(truncatingIfNeeded: random.next()) }
            default: body = (0..<random.int(0...200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            _ = try? run(body, chunks: random.chunks(body))
        }
    }
}

@Suite struct JSONWatchFilterTests {
    func events(_ random: inout FixtureRandom, count: Int) -> [JSON] {
        random.objects(count: count).enumerated().map { i, object in
            var o = object
            o.setMetadata("resourceVersion", .string(String(100 + i)))
            return ["type": .string(["ADDED", "MODIFIED", "DELETED"][random.int(0...2)]), "object": o]
        }
    }

    /// Owned events pass in order and unchanged; dropped ones surface only as bookmarks with
    /// their resourceVersion, and the stream always ends on the last event's version.
    @Test func keepsOwnedEventsAndBookmarksTheRest() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let all = events(&random, count: random.int(1...30))
            var body: [UInt8] = []
            for e in all { body += e.serialized() + (random.chance(50) ? [0x0A] : []) }
            var filter = JSONWatchFilter(bookmarks: true, keep: fixtureKeep)
            var out: [UInt8] = []
            for chunk in random.chunks(body) { try? chunk.withUnsafeBytes { try filter.consume($0, into: &out) } }
            let lines = String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
            let kept = lines.filter { $0["type"]?.stringValue != "BOOKMARK" }
            #expect(kept == all.filter { fixtureKeep(identity(of: $0["object"]!)) })
            let versions = lines.compactMap { $0["object"]?.resourceVersion.flatMap { Int($0) } }
            #expect(versions == versions.sorted())
            #expect(versions.last == 100 + all.count - 1)
            #expect(filter.lastDeliveredResourceVersion == String(100 + all.count - 1))
            #expect(filter.atEventBoundary)
        }
    }

    @Test func withoutBookmarksDroppedEventsVanish() throws {
        let e: JSON = ["type": "ADDED", "object": ["kind": "K", "metadata": ["name": "a", "resourceVersion": "5"]]]
        var filter = JSONWatchFilter(bookmarks: false) { _ in false }
        var out: [UInt8] = []
        try e.serialized().withUnsafeBytes { try filter.consume($0, into: &out) }
        #expect(out.isEmpty && filter.dropped == 1)
    }

    @Test func errorAndBookmarkEventsAlwaysPass() throws {
        let body = #"{"type":"ERROR","object":{"kind":"Status","code":410}}{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#
        var filter = JSONWatchFilter(bookmarks: true) { _ in false }
        var out: [UInt8] = []
        try Array(body.utf8).withUnsafeBytes { try filter.consume($0, into: &out) }
        #expect(String(decoding: out, as: UTF8.self).split(separator: "\n").count == 2)
        #expect(filter.lastDeliveredResourceVersion == "9")
    }
}

@Suite struct ObjectIdentityTests {
    /// A request body with duplicate keys is judged as the API server reads it: last one wins.
    @Test func duplicateKeysResolveAsTheServerDoes() throws {
        let body = #"{"metadata":{"namespace":"mine","ownerReferences":[{"uid":"a","controller":true}]},"metadata":{"namespace":"theirs","ownerReferences":[{"uid":"b","controller":true}]}}"#
        let id = ObjectIdentity(json: try JSON.parse(body))
        #expect(id.namespace == "theirs" && id.controllerUID == "b")
    }
}
