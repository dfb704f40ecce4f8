import KubeModel
@testable import MeshCore

/// Random Kubernetes-shaped objects and lists for the filter properties: names and values
/// full of the bytes a scanner can trip on (quotes, braces, backslashes, escapes, non-ASCII).
struct FixtureRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func nasty() -> String {
        let pieces = ["a", "{", "}", "[", "]", "\"", "\\", ",", ":", "é", "😀", "\n", "\u{1}", "items", "metadata", " "]
        return (0..<int(0...12)).map { _ in pieces[int(0...(pieces.count - 1))] }.joined()
    }

    mutating func uid() -> String {
        String(next(), radix: 16) + "-" + String(next() % 100_000, radix: 16)
    }

    mutating func object(namespace: String, owners: [String]) -> JSON {
        var metadata: [(String, JSON)] = [
            ("name", .string("o-\(uid())")), ("namespace", .string(namespace)), ("uid", .string(uid())),
            ("resourceVersion", .string(String(int(1...1_000_000)))),
            ("annotations", .object(JSONObject([("note", .string(nasty()))]))),
        ]
        if chance(50) { metadata.append(("labels", .object(JSONObject([("app", .string(chance(50) ? "a" : "b")), ("x", .string(nasty()))])))) }
        if !owners.isEmpty, chance(60) {
            let controller = owners[int(0...(owners.count - 1))]
            var refs: [JSON] = [["apiVersion": "v1", "kind": "Thing", "name": "other", "uid": .string(uid())]]
            refs.append(["apiVersion": "v1", "kind": "Thing", "name": "ctl", "uid": .string(controller), "controller": true])
            metadata.append(("ownerReferences", .array(chance(50) ? refs : refs.reversed())))
        }
        // Field order varies: scanners must not depend on it.
        for i in stride(from: metadata.count - 1, to: 0, by: -1) { metadata.swapAt(i, int(0...i)) }
        var fields: [(String, JSON)] = [("apiVersion", "v1"), ("kind", "Thing"), ("metadata", .object(JSONObject(metadata)))]
        fields.append(("spec", ["text": .string(nasty()), "list": [.string(nasty()), 1, true, .null, ["k": .string(nasty())]]]))
        if chance(50) { fields.swapAt(2, 3) }
        return .object(JSONObject(fields))
    }

    mutating func objects(count: Int) -> [JSON] {
        var owners: [String] = []
        var out: [JSON] = []
        for _ in 0..<count {
            let o = object(namespace: "ns-\(int(0...9))", owners: owners)
            if chance(30), let uid = o.uid { owners.append(uid) }
            out.append(o)
        }
        return out
    }

    /// Splits bytes at random points.
    mutating func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let n = min(bytes.count - i, int(1...max(1, bytes.count / 3 + 1)))
            out.append(Array(bytes[i..<(i + n)]))
            i += n
        }
        return out
    }
}

/// A keep rule that exercises both key kinds: namespace or controller/own uid.
func fixtureKeep(_ identity: ObjectIdentity) -> Bool {
    let key = identity.controllerUID ?? identity.uid
    return (FNV1a64.hash(key) ^ FNV1a64.hash(identity.namespace)) & 1 == 0
}

func identity(of object: JSON) -> ObjectIdentity {
    ObjectIdentity(json: object)
}
