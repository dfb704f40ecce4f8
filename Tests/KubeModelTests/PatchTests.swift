import KubeModel
import PropertyBased
import Testing

@Suite struct MergePatchTests {
    @Test func rfc7386Examples() throws {
        let target = try JSON.parse(#"{"a":"b","c":{"d":"e","f":"g"}}"#)
        let patch = try JSON.parse(#"{"a":"z","c":{"f":null}}"#)
        #expect(MergePatch.apply(patch, to: target) == (try JSON.parse(#"{"a":"z","c":{"d":"e"}}"#)))
        #expect(MergePatch.apply(["a": [1]], to: ["a": [2, 3]]) == ["a": [1]])
        #expect(MergePatch.apply(["x": "y"], to: .null) == ["x": "y"])
    }

    /// Merging a patch twice is the same as merging it once.
    @Test func idempotent() async {
        let small = Gen.oneOf(Gen.int(in: 0...3).map { JSON.int($0) }, Gen.always(JSON.null))
        let keys = Gen.element(of: ["a", "b", "c"]).map { $0 ?? "a" }
        await propertyCheck(count: 300, input: keys, small, keys, small) { k1, v1, k2, v2 in
            let pairs: [(String, JSON)] = [(k1, v1), (k2, ["n": v2])]
            let patch: JSON = .object(JSONObject(pairs))
            let target: JSON = ["a": 1, "b": ["n": 2]]
            let once = MergePatch.apply(patch, to: target)
            #expect(MergePatch.apply(patch, to: once) == once)
        }
    }
}

@Suite struct JSONPatchTests {
    let doc: JSON = ["metadata": ["name": "x", "resourceVersion": "5"], "list": [1, 2]]

    @Test func operations() throws {
        let patch = try JSON.parse(#"""
            [{"op":"test","path":"/metadata/resourceVersion","value":"5"},
             {"op":"add","path":"/list/-","value":3},{"op":"add","path":"/list/0","value":0},
             {"op":"replace","path":"/metadata/name","value":"y"},{"op":"remove","path":"/list/1"},
             {"op":"copy","from":"/metadata/name","path":"/copied"},{"op":"move","from":"/copied","path":"/moved"},
             {"op":"add","path":"/a~1b","value":true}]
            """#)
        let result = try JSONPatch.apply(patch, to: doc)
        #expect(result == (try JSON.parse(#"{"metadata":{"name":"y","resourceVersion":"5"},"list":[0,2,3],"moved":"y","a/b":true}"#)))
    }

    @Test func failedTestAndMissingPathsThrow() {
        #expect(throws: PatchError.self) { try JSONPatch.apply([["op": "test", "path": "/metadata/name", "value": "z"]], to: doc) }
        #expect(throws: PatchError.self) { try JSONPatch.apply([["op": "remove", "path": "/nope"]], to: doc) }
        #expect(throws: PatchError.self) { try JSONPatch.apply([["op": "replace", "path": "/list/9", "value": 1]], to: doc) }
        #expect(throws: PatchError.self) { try JSONPatch.apply(["op": "add"], to: doc) }
        // The error names the operation the client sent, not the removal a replace or move starts with.
        for op in ["replace", "move"] {
            let operation: JSON = op == "move" ? ["op": "move", "from": "/nope", "path": "/x"] : ["op": "replace", "path": "/nope", "value": 1]
            #expect { try JSONPatch.apply([operation], to: doc) } throws: { ($0 as? PatchError)?.message.hasPrefix("\(op) operation") == true }
        }
    }
}

@Suite struct StrategicMergePatchTests {
    let deployment = try! JSON.parse(#"""
        {"metadata":{"name":"web","finalizers":["a"]},
         "spec":{"template":{"spec":{"containers":[
            {"name":"nginx","image":"nginx:1","ports":[{"containerPort":80,"name":"http"}],"env":[{"name":"A","value":"1"}]},
            {"name":"sidecar","image":"busybox"}],
          "tolerations":[{"key":"x"}]}}}}
        """#)

    func patch(_ text: String) throws -> JSON {
        try StrategicMergePatch.apply(try JSON.parse(text), to: deployment)
    }

    func containers(_ o: JSON) -> [JSON] { o.value(at: ["spec", "template", "spec", "containers"])?.arrayValue ?? [] }

    @Test func mergesListsByKey() throws {
        let result = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"},{"name":"new","image":"x"}]}}}}"#)
        #expect(containers(result).map { $0["name"]?.stringValue } == ["nginx", "sidecar", "new"])
        #expect(containers(result)[1]["image"] == "busybox:2")
        #expect(containers(result)[0]["image"] == "nginx:1")
    }

    @Test func nestedKeysAndPorts() throws {
        let result = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"B","value":"2"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}}"#)
        let nginx = containers(result)[0]
        #expect(nginx["env"]?.arrayValue?.count == 2)
        #expect(nginx["ports"] == [["containerPort": 80, "name": "http", "protocol": "TCP"]])
    }

    @Test func directives() throws {
        let deleted = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#)
        #expect(containers(deleted).map { $0["name"]?.stringValue } == ["nginx"])

        let replaced = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"y"},{"$patch":"replace"}]}}}}"#)
        #expect(containers(replaced) == [["name": "only", "image": "y"]])

        let ordered = try patch(#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}}"#)
        #expect(containers(ordered).map { $0["name"]?.stringValue } == ["sidecar", "nginx"])

        let finalizers = try patch(#"{"metadata":{"finalizers":["b"],"$deleteFromPrimitiveList/finalizers":["a"]}}"#)
        #expect(finalizers.value(at: ["metadata", "finalizers"]) == ["b"])

        let retained = try patch(#"{"spec":{"template":{"spec":{"$retainKeys":["containers"]}}}}"#)
        #expect(retained.value(at: ["spec", "template", "spec", "tolerations"]) == nil)

        let replacedMap = try patch(#"{"metadata":{"$patch":"replace","name":"other"}}"#)
        #expect(replacedMap["metadata"] == ["name": "other"])
    }

    @Test func listsWithoutStrategyAreReplaced() throws {
        let result = try patch(#"{"spec":{"template":{"spec":{"tolerations":[{"key":"y"}]}}}}"#)
        #expect(result.value(at: ["spec", "template", "spec", "tolerations"]) == [["key": "y"]])
    }

    @Test func missingMergeKeyIsAnError() {
        #expect(throws: PatchError.self) { try patch(#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#) }
    }
}
