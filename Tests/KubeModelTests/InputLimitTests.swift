import KubeModel
import PropertyBased
import Testing

/// Inputs that once took a component down, or that a client could not read back, are refused
/// where they come in.
@Suite struct InputLimitTests {
    @Test(arguments: ["1e999999", "-1e400", String(repeating: "9", count: 100_000), "9223372036854775808", "-9223372036854775809"])
    func numbersNoClientCanDecodeAreRefused(_ literal: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(#"{"n":\#(literal)}"#) }
    }

    @Test(arguments: ["9223372036854775807", "-9223372036854775808", "1e308", "0.5", "1e-400", "-0"])
    func numbersEveryClientDecodesAreKept(_ literal: String) throws {
        #expect(try JSON.parse("[\(literal)]").jsonString == "[\(literal)]")
    }

    /// The 1.3 KB patch that grew a 1,000-byte array by 30 self-copies (17.8 GB) stops at the
    /// API server's 3 MiB copy budget.
    @Test func selfCopyingPatchStopsAtTheCopyLimit() throws {
        var operations: [JSON] = [["op": "add", "path": "/a", "value": .array(Array(repeating: JSON.string("x"), count: 200))]]
        for _ in 0..<30 { operations.append(["op": "copy", "from": "/a", "path": "/a/-"]) }
        #expect { try JSONPatch.apply(.array(operations), to: ["kind": "ConfigMap"]) } throws: {
            ($0 as? PatchError)?.kind == .failed && ($0 as? PatchError)?.status.code == 422
        }
    }

    @Test func moreThanTenThousandOperationsIsTooLarge() {
        let operations = JSON.array(Array(repeating: ["op": "test", "path": "/a", "value": 1], count: 10_001))
        #expect { try JSONPatch.apply(operations, to: ["a": 1]) } throws: { ($0 as? PatchError)?.status.code == 413 }
    }

    @Test func patchesCannotNestPastTheParserLimit() {
        var deep: JSON = 1
        for _ in 0..<200 { deep = ["d": deep] }
        let operations: [JSON] = [["op": "add", "path": "/a", "value": deep], ["op": "copy", "from": "/a", "path": "/a/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/x"]]
        #expect { try JSONPatch.apply(.array(operations), to: [:]) } throws: { ($0 as? PatchError)?.kind == .failed }
    }

    @Test(arguments: ["/a~2b", "/a~", "/~x"])
    func pointerEscapesOtherThanZeroAndOneAreMalformed(_ pointer: String) {
        #expect { try JSONPatch.apply([["op": "add", "path": .string(pointer), "value": 1]], to: [:]) } throws: {
            ($0 as? PatchError)?.kind == .malformed
        }
    }

    @Test func strategicPatchCannotDeleteTheWholeObject() {
        #expect { try StrategicMergePatch.apply(["$patch": "delete"], to: ["kind": "Pod"]) } throws: { ($0 as? PatchError)?.kind == .failed }
    }

    /// Merges of large lists and objects stay linear: a 200,000-element list merged by key
    /// with a 200,000-element patch, and a 200,000-key object with half its keys removed
    /// (each would take minutes pairwise).
    @Test func largeMergesStayLinear() throws {
        let count = 200_000
        let containers = JSON.array((0..<count).map { ["name": .string("c\($0)"), "image": "a"] })
        let patchList = JSON.array((0..<count).map { ["name": .string("c\($0)"), "image": "b"] })
        let merged = try StrategicMergePatch.apply(["spec": ["containers": patchList]], to: ["spec": ["containers": containers]])
        #expect(merged["spec"]?["containers"]?.arrayValue?.count == count)
        #expect(merged["spec"]?["containers"]?.arrayValue?.last?["image"] == "b")
        var data = JSONObject()
        var removals = JSONObject()
        for i in 0..<count {
            data["k\(i)"] = "v"
            if i % 2 == 0 { removals["k\(i)"] = .null }
        }
        let result = MergePatch.apply(["data": .object(removals)], to: ["data": .object(data)])
        #expect(result["data"]?.objectValue?.count == count / 2)
        #expect(result["data"]?["k1"] == "v" && result["data"]?["k0"] == nil)
    }

    /// A large object's index agrees with a plain list of pairs under any sequence of
    /// sets and removals.
    @Test func objectIndexAgreesWithAPairList() async {
        let key = Gen.int(in: 0...40).map { "k\($0)" }
        let step = Gen.oneOf(key.map { ($0, true) }, key.map { ($0, false) })
        await propertyCheck(count: 300, input: step.array(of: 0...120)) { steps in
            var object = JSONObject()
            var model: [(String, Int)] = []
            for (i, (k, set)) in steps.enumerated() {
                if set {
                    object[k] = .int(i)
                    if let at = model.firstIndex(where: { $0.0 == k }) { model[at].1 = i } else { model.append((k, i)) }
                } else {
                    object[k] = nil
                    model.removeAll { $0.0 == k }
                }
            }
            #expect(object.keys == model.map(\.0))
            for (k, v) in model { #expect(object[k] == .int(v)) }
        }
    }
}

@Suite struct ObjectMetaCheckTests {
    @Test(arguments: [
        #"{"metadata":{"name":1}}"#, #"{"metadata":"x"}"#, #"{"metadata":{"labels":{"a":1}}}"#,
        #"{"metadata":{"ownerReferences":[{"uid":"u","controller":"true"}]}}"#, #"{"metadata":{"ownerReferences":{}}}"#,
        #"{"metadata":{"finalizers":[1]}}"#, #"{"kind":7}"#, #"[1]"#,
    ])
    func metadataOfTheWrongTypeDoesNotDecode(_ text: String) throws {
        #expect(ObjectMetaCheck.decodeError(try JSON.parse(text)) != nil)
    }

    @Test func twoControllersAreRefused() throws {
        let object = try JSON.parse(#"""
            {"metadata":{"ownerReferences":[
              {"apiVersion":"v1","kind":"A","name":"a","uid":"1","controller":true},
              {"apiVersion":"v1","kind":"B","name":"b","uid":"2","controller":true}]}}
            """#)
        #expect(ObjectMetaCheck.decodeError(object) == nil)
        #expect(ObjectMetaCheck.ownerReferenceCauses(object).map(\.field) == ["metadata.ownerReferences"])
    }

    @Test(arguments: ["[1]", #""x""#, "{bad", #"{"preconditions":"x"}"#, #"{"preconditions":{"uid":5}}"#,
                      #"{"kind":"Pod"}"#, #"{"propagationPolicy":1}"#, #"{"dryRun":"All"}"#])
    func deleteOptionsThatDoNotDecodeAreRefused(_ text: String) {
        #expect(throws: StatusError.self) { try DeleteOptions.decode(contentType: "application/json", body: Array(text.utf8)).get() }
    }

    @Test func patchReachSeesEveryWayToTheField() throws {
        func reach(_ text: String, _ kind: PatchReach.Kind) throws -> Bool {
            PatchReach.mayChange(metadataField: "ownerReferences", patch: try JSON.parse(text), kind: kind)
        }
        #expect(try !reach(#"[{"op":"replace","path":"/spec/replicas","value":2}]"#, .json))
        #expect(try !reach(#"[{"op":"test","path":"/metadata/ownerReferences","value":[]}]"#, .json))
        #expect(try reach(#"[{"op":"add","path":"/metadata/ownerReferences/-","value":{}}]"#, .json))
        #expect(try reach(#"[{"op":"move","from":"/metadata/ownerReferences","path":"/x"}]"#, .json))
        #expect(try reach(#"[{"op":"replace","path":"/metadata","value":{}}]"#, .json))
        #expect(try reach(#"[{"op":"replace","path":"","value":{}}]"#, .json))
        #expect(try !reach(#"{"spec":{"replicas":2},"metadata":{"labels":{"a":"b"}}}"#, .merge))
        #expect(try reach(#"{"metadata":{"ownerReferences":null}}"#, .merge))
        #expect(try reach(#"{"metadata":null}"#, .merge))
        #expect(try reach(#"{"metadata":{"$setElementOrder/ownerReferences":[]}}"#, .strategic))
        #expect(try reach(#"{"$patch":"replace","spec":{}}"#, .strategic))
    }
}
