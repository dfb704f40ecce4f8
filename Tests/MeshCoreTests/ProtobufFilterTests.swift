import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

/// Encodes fixture objects the way the API server's protobuf serializer lays them out.
enum ProtobufFixture {
    static func object(_ json: JSON) -> [UInt8] {
        var meta = ProtobufWriter.field(1, json.name ?? "") + ProtobufWriter.field(3, json.namespace ?? "")
            + ProtobufWriter.field(5, json.uid ?? "") + ProtobufWriter.field(6, json.resourceVersion ?? "")
        for (k, v) in json.labels.sorted(by: { $0.key < $1.key }) {
            meta += ProtobufWriter.field(11, ProtobufWriter.field(1, k) + ProtobufWriter.field(2, v))
        }
        for ref in json.metadataValue("ownerReferences")?.arrayValue ?? [] {
            var r = ProtobufWriter.field(1, "Thing") + ProtobufWriter.field(4, ref["uid"]?.stringValue ?? "")
            if ref["controller"]?.boolValue == true { r += ProtobufWriter.varint(6 << 3) + [1] }
            meta += ProtobufWriter.field(13, r)
        }
        return ProtobufWriter.field(1, meta) + ProtobufWriter.field(2, ProtobufWriter.field(1, json.jsonString))
    }

    static func envelope(kind: String, raw: [UInt8]) -> [UInt8] {
        KubernetesProtobuf.magic + ProtobufWriter.field(1, ProtobufWriter.field(1, "v1") + ProtobufWriter.field(2, kind))
            + ProtobufWriter.field(2, raw) + ProtobufWriter.field(4, "application/vnd.kubernetes.protobuf")
    }

    static func list(_ items: [[UInt8]], resourceVersion: String) -> [UInt8] {
        let listMeta = ProtobufWriter.field(2, resourceVersion) + ProtobufWriter.field(3, "token")
        return envelope(kind: "ThingList", raw: ProtobufWriter.field(1, listMeta) + items.flatMap { ProtobufWriter.field(2, $0) })
    }

    static func event(_ type: String, _ object: [UInt8]) -> [UInt8] {
        ProtobufWatchFilter.frame(type: type, envelope: envelope(kind: "Thing", raw: object))
    }
}

@Suite struct ProtobufFilterTests {
    /// Kept items are untouched, dropped items become zero-filled field 15 of the same size,
    /// and every length stays valid whatever the chunking.
    @Test func listKeepsOwnedItemsAndBlanksTheRest() async {
        await propertyCheck(count: 150, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let objects = random.objects(count: random.int(0...30))
            let encoded = objects.map(ProtobufFixture.object)
            let body = ProtobufFixture.list(encoded, resourceVersion: "77")
            var filter = ProtobufListFilter(keep: fixtureKeep)
            var out: [UInt8] = []
            for chunk in random.chunks(body) { try? chunk.withUnsafeBytes { try filter.consume($0, into: &out) } }
            #expect((try? filter.finish()) != nil)
            #expect(out.count == body.count)
            #expect(filter.listResourceVersion == "77" && filter.continueToken == "token")
            // Decode: the envelope's raw holds ListMeta, kept items (field 2) and padding (15).
            var envelope = ProtobufReader(out[4...])
            var raw: ArraySlice<UInt8> = []
            while !envelope.atEnd, let (n, v) = try? envelope.field() { if n == 2, case .bytes(let b) = v { raw = b } }
            var reader = ProtobufReader(raw)
            var kept: [[UInt8]] = []
            var blanks = 0
            while !reader.atEnd, let (n, v) = try? reader.field() {
                guard case .bytes(let b) = v else { continue }
                if n == 2 { kept.append(Array(b)) }
                if n == 15 { blanks += 1; #expect(b.allSatisfy { $0 == 0 }) }
            }
            let expected = zip(objects, encoded).filter { fixtureKeep(identity(of: $0.0)) }.map(\.1)
            #expect(kept == expected)
            #expect(blanks == objects.count - expected.count)
        }
    }

    @Test func watchKeepsOwnedEventsAndBookmarksTheRest() async {
        await propertyCheck(count: 150, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            var objects = random.objects(count: random.int(1...25))
            for i in objects.indices { objects[i].setMetadata("resourceVersion", .string(String(500 + i))) }
            let body = objects.flatMap { ProtobufFixture.event("MODIFIED", ProtobufFixture.object($0)) }
            var filter = ProtobufWatchFilter(bookmarks: true, keep: fixtureKeep)
            var out: [UInt8] = []
            for chunk in random.chunks(body) { try? chunk.withUnsafeBytes { try filter.consume($0, into: &out) } }
            #expect(filter.atEventBoundary)
            var offset = 0
            var keptNames: [String] = []
            var versions: [String] = []
            while offset + 4 <= out.count {
                let n = out[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
                let (type, id) = try #require(try? ProtobufWatchFilter.event(out[(offset + 4)..<(offset + 4 + n)]))
                if type == "MODIFIED" { keptNames.append(id.name) }
                versions.append(id.resourceVersion)
                offset += 4 + n
            }
            #expect(offset == out.count)
            #expect(keptNames == objects.filter { fixtureKeep(identity(of: $0)) }.compactMap(\.name))
            #expect(versions.last == String(500 + objects.count - 1))
        }
    }

    @Test func errorFramesCarryAStatus() throws {
        let frame = ProtobufWatchFilter.errorFrame(code: 410, reason: "Expired", message: "relist")
        let (type, id) = try ProtobufWatchFilter.event(frame[4...])
        #expect(type == "ERROR" && id.kind == "Status")
    }

    @Test func survivesCorruption() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            var body = ProtobufFixture.list(random.objects(count: 4).map(ProtobufFixture.object), resourceVersion: "1")
            var frames = random.objects(count: 3).flatMap { ProtobufFixture.event("ADDED", ProtobufFixture.object($0)) }
            for _ in 0..<random.int(1...6) {
                body[random.int(0...(body.count - 1))] = UInt8(truncatingIfNeeded: random.next())
                frames[random.int(0...(frames.count - 1))] = UInt8(truncatingIfNeeded: random.next())
            }
            body = Array(body.prefix(random.int(0...body.count)))
            var list = ProtobufListFilter(maxItemBytes: 1 << 20, keep: fixtureKeep)
            var watch = ProtobufWatchFilter(bookmarks: true, maxEventBytes: 1 << 20, keep: fixtureKeep)
            var out: [UInt8] = []
            for chunk in random.chunks(body) { try? chunk.withUnsafeBytes { try list.consume($0, into: &out) } }
            for chunk in random.chunks(frames) { try? chunk.withUnsafeBytes { try watch.consume($0, into: &out) } }
        }
    }
}
