import KubeModel
import MeshCore
import PropertyBased
import Testing

@Suite struct ShardSpecTests {
    @Test func parsesEveryClause() throws {
        let spec = try ShardSpec(json: [
            "shard": "shard-0", "epoch": 3,
            "resources": [["apiGroups": [""], "resources": ["configmaps"], "key": "namespace"],
                          ["apiGroups": ["apps.kruise.io"], "resources": ["*"], "key": "object"]],
            "owned": ["namespaces": ["a"], "namespaceSelectors": ["tier=gold"], "namespaceRegexes": ["^team-"],
                      "namespaceHashRanges": [["start": "0x0", "end": "0x10"]],
                      "objectHashRanges": [["start": "0x8000000000000000", "end": "0x10000000000000000"]]],
            "leaderElection": ["namespace": "kruise-system", "name": "kruise-manager"],
        ])
        #expect(spec.shard == "shard-0" && spec.epoch == 3)
        #expect(spec.keyMode(of: GroupResource(group: "", resource: "configmaps")) == .namespace)
        #expect(spec.keyMode(of: GroupResource(group: "apps.kruise.io", resource: "clonesets")) == .object)
        #expect(spec.keyMode(of: GroupResource(group: "", resource: "pods")) == nil)
        #expect(spec.ownsNamespace("a", labels: nil) && spec.ownsNamespace("team-x", labels: nil))
        #expect(spec.ownsNamespace("z", labels: ["tier": "gold"]) && !spec.ownsNamespace("z", labels: ["tier": "lead"]))
        #expect(!spec.ownsNamespace("z", labels: nil))
        #expect(spec.owned.objectHashRanges == [HashRange(start: 1 << 63, last: .max)])
        #expect(spec.leaderElection == .init(group: "coordination.k8s.io", resource: "leases", namespace: "kruise-system", name: "kruise-manager"))
    }

    @Test(arguments: [
        (#"{"epoch":1}"#, "shard: required"),
        (#"{"shard":"Bad_Name","epoch":1}"#, "not a valid DNS subdomain"),
        (#"{"shard":"s"}"#, "epoch: required"),
        (#"{"shard":"s","epoch":1,"resources":[{"apiGroups":[""],"resources":["x"],"key":"pod"}]}"#, "is not one of namespace, object"),
        (#"{"shard":"s","epoch":1,"owned":{"namespaceRegexes":["("]}}"#, "not a valid regular expression"),
        (#"{"shard":"s","epoch":1,"owned":{"namespaceSelectors":["a in ("]}}"#, "namespaceSelectors"),
        (#"{"shard":"s","epoch":1,"owned":{"objectHashRanges":[{"start":"0x5","end":"0x5"}]}}"#, "end must be above start"),
        (#"{"shard":"s","epoch":1,"owned":{"objectHashRanges":[{"start":"5","end":"0x9"}]}}"#, "0x-prefixed hex"),
        (#"{"shard":"s","epoch":1,"leaderElection":{"namespace":"n","name":"l","resource":"pods"}}"#, "leaderElection.resource"),
    ])
    func rejectsBadSpecs(_ text: String, _ message: String) throws {
        let json = try JSON.parse(text)
        #expect { try ShardSpec(json: json) } throws: { ($0 as? ShardSpecError)?.message.contains(message) == true }
    }

    /// A typo or a wrong type once applied as a spec that shards nothing, letting every write
    /// through: each is an error now, and only an explicit `resources: []` shards nothing.
    @Test(arguments: [
        (#"{"shard":"s","epoch":5,"resource":[{"apiGroups":[""],"resources":["configmaps"]}],"owned":{"namespaces":["a"]}}"#, "resource: Unknown field"),
        (#"{"shard":"s","epoch":5,"resources":"nope","owned":{"namespaces":["a"]}}"#, "resources: Invalid value: must be a list"),
        (#"{"shard":"s","epoch":5,"owned":{"namespaces":["a"]}}"#, "resources: required"),
        (#"{"shard":"s","epoch":5,"resources":[{"apiGroups":[""],"resources":["x"],"keys":"object"}]}"#, "resources[0].keys: Unknown field"),
        (#"{"shard":"s","epoch":5,"resources":[],"owned":{"namespace":["a"]}}"#, "owned.namespace: Unknown field"),
        (#"{"shard":"s","epoch":"5","resources":[]}"#, "epoch"),
        (#"{"shard":"s","epoch":5,"resources":[],"owned":{"objectHashRanges":[{"start":"0x0","end":"0x10","step":1}]}}"#, "step: Unknown field"),
        (#"{"shard":"s","epoch":5,"resources":[],"leaderElection":{"name":"l","namespace":"n","resourse":"leases"}}"#, "resourse: Unknown field"),
    ])
    func typosAndWrongTypesAreErrors(_ text: String, _ message: String) throws {
        try rejectsBadSpecs(text, message)
    }

    @Test func anExplicitEmptyListShardsNothing() throws {
        let spec = try ShardSpec(json: try JSON.parse(#"{"shard":"s","epoch":1,"resources":[]}"#))
        #expect(spec.resources.isEmpty)
    }

    /// Two specs that split the hash space at any point own every key exactly once, in both
    /// hash modes, and an owned object's children follow it.
    @Test func complementarySpecsOwnEveryKeyOnce() async {
        await propertyCheck(count: 500, input: Gen.uint64(), Gen.letterOrNumber.string(of: 1...12), Gen.letterOrNumber.string(of: 1...12)) { cut, namespace, uid in
            func spec(_ ranges: [HashRange]) -> ShardSpec {
                ShardSpec(shard: "s", epoch: 1, resources: [], owned: .init(namespaceHashRanges: ranges, objectHashRanges: ranges))
            }
            let low = spec(HashRange(start: 0, endExclusive: cut).map { [$0] } ?? [])
            let high = spec([HashRange(start: cut, endExclusive: nil)!])
            let object = ObjectIdentity(name: "o", namespace: namespace, uid: uid)
            for mode in [ShardSpec.KeyMode.namespace, .object] {
                let owners = [low, high].filter { $0.owns(object, mode: mode, isNamespaceResource: false, namespaceLabels: { _ in nil }) }
                #expect(owners.count == 1)
            }
            let child = ObjectIdentity(name: "c", namespace: namespace, uid: uid + "-child", controllerUID: uid)
            #expect(low.owns(child, mode: .object, isNamespaceResource: false) { _ in nil }
                    == low.owns(object, mode: .object, isNamespaceResource: false) { _ in nil })
        }
    }
}

@Suite struct ShardFenceTests {
    let spec = ShardSpec(shard: "shard-a", epoch: 1, resources: [
        .init(apiGroups: [""], resources: ["configmaps", "namespaces"], key: .namespace),
        .init(apiGroups: ["apps.kruise.io"], resources: ["clonesets"], key: .object),
    ], owned: .init(namespaces: ["mine"]))

    func decide(_ method: String, _ uri: String, spec: ShardSpec?) -> FenceDecision {
        let info = RequestInfo.classify(method: method, target: uri)!
        return ShardFence.decide(info, spec: spec) { _ in nil }
    }

    @Test func decidesEachVerb() {
        let cm = "/api/v1/namespaces/mine/configmaps"
        let theirs = "/api/v1/namespaces/theirs/configmaps"
        let cs = "/apis/apps.kruise.io/v1alpha1/namespaces/mine/clonesets"
        #expect(decide("GET", cm, spec: spec) == .filterList(.namespace))
        #expect(decide("GET", cm + "?watch=1", spec: spec) == .filterWatch(.namespace))
        #expect(decide("GET", cm + "/x", spec: spec) == .passThrough)
        #expect(decide("PUT", cm + "/x", spec: spec) == .passThrough)
        #expect(decide("POST", cm, spec: spec) == .passThrough)
        #expect(decide("DELETE", cm, spec: spec) == .passThrough)
        for (method, path) in [("GET", theirs + "/x"), ("PUT", theirs + "/x"), ("PATCH", theirs + "/x"), ("DELETE", theirs + "/x"),
                               ("POST", theirs), ("DELETE", theirs), ("GET", "/api/v1/namespaces/theirs")] {
            guard case .refuse(let message) = decide(method, path, spec: spec) else {
                Issue.record("\(method) \(path) was not refused")
                continue
            }
            #expect(message.contains("shard-a"))
        }
        #expect(decide("POST", "/api/v1/namespaces", spec: spec) == .judgeNamespaceCreate(sharded: true))
        #expect(decide("GET", cs + "/x", spec: spec) == .judgeResponse(.object))
        #expect(decide("GET", cs + "/x/status", spec: spec) == .judgeCurrent(.object))
        #expect(decide("PATCH", cs + "/x", spec: spec) == .judgeCurrent(.object))
        #expect(decide("POST", cs, spec: spec) == .judgeBody(.object))
        #expect(decide("GET", "/api/v1/namespaces/mine/pods/p", spec: spec) == .passThrough)
        #expect(decide("DELETE", "/api/v1/configmaps", spec: spec) == .deleteOwned(.namespace))
        #expect(decide("DELETE", "/apis/apps.kruise.io/v1alpha1/namespaces/mine/clonesets", spec: spec) == .deleteOwned(.object))
    }

    @Test func failsClosedWithoutASpec() {
        #expect(decide("GET", "/api/v1/pods", spec: nil) == .filterList(.namespace))
        #expect(decide("GET", "/api/v1/pods?watch=true", spec: nil) == .filterWatch(.namespace))
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            guard case .refuse = decide(method, "/api/v1/namespaces/a/pods/p", spec: nil) else {
                Issue.record("\(method) passed without a spec")
                continue
            }
        }
        #expect(ShardFence.owns(ObjectIdentity(name: "p", namespace: "a", uid: "u"), gr: GroupResource(group: "", resource: "pods"),
                                mode: .namespace, spec: nil) { _ in nil } == false)
    }

    @Test func renamesTheLeaderLock() {
        let lock = ShardSpec.LeaderElectionLock(namespace: "sys", name: "op")
        let get = RequestInfo.classify(method: "GET", target: "/apis/coordination.k8s.io/v1/namespaces/sys/leases/op")!
        let create = RequestInfo.classify(method: "POST", target: "/apis/coordination.k8s.io/v1/namespaces/sys/leases")!
        let other = RequestInfo.classify(method: "GET", target: "/apis/coordination.k8s.io/v1/namespaces/sys/leases/x")!
        #expect(LeaderLockRename.targetsLock(get, bodyName: nil, lock: lock))
        #expect(LeaderLockRename.targetsLock(create, bodyName: "op", lock: lock))
        #expect(!LeaderLockRename.targetsLock(create, bodyName: "x", lock: lock) && !LeaderLockRename.targetsLock(other, bodyName: nil, lock: lock))
        let target = try! RequestTarget.parse("/apis/coordination.k8s.io/v1/namespaces/sys/leases/op?timeout=5s")
        #expect(LeaderLockRename.target(target, resource: "leases", name: "op", newName: LeaderLockRename.shardLockName("op", shard: "s1")).encoded
                == "/apis/coordination.k8s.io/v1/namespaces/sys/leases/op---s1?timeout=5s")
    }
}

@Suite struct FieldsJudgedTests {
    /// A list filter reads only `fieldsJudged`; judging the reduced identity must give the
    /// same answer as judging the whole one.
    @Test func judgingNeedsNoOtherField() async {
        let spec = ShardSpec(shard: "s", epoch: 1, resources: [], owned: .init(
            namespaces: ["a"], namespaceSelectors: [LabelSelector(requirements: [.init(key: "tier", op: .equals, values: ["gold"])])],
            namespaceHashRanges: [HashRange(start: 0, last: 1 << 62)], objectHashRanges: [HashRange(start: 1 << 63, last: .max)]))
        let names = Gen.element(of: ["a", "b", "c", "team-x"]).map { $0 ?? "a" }
        await propertyCheck(count: 400, input: names, names, Gen.letterOrNumber.string(of: 1...8), Gen.bool) { name, namespace, uid, gold in
            let full = ObjectIdentity(name: name, namespace: namespace, uid: uid, labels: gold ? ["tier": "gold"] : [:],
                                      controllerUID: gold ? uid + "-owner" : nil)
            for gr in [GroupResource(group: "", resource: "namespaces"), GroupResource(group: "", resource: "configmaps")] {
                for mode in [ShardSpec.KeyMode.namespace, .object] {
                    let fields = ShardFence.fieldsJudged(gr: gr, mode: mode, spec: spec)
                    var reduced = ObjectIdentity()
                    if fields.contains(.name) { reduced.name = full.name }
                    if fields.contains(.namespace) { reduced.namespace = full.namespace }
                    if fields.contains(.uid) { reduced.uid = full.uid }
                    if fields.contains(.labels) { reduced.labels = full.labels }
                    if fields.contains(.controller) { reduced.controllerUID = full.controllerUID }
                    let labels: (String) -> [String: String]? = { _ in ["tier": "lead"] }
                    #expect(ShardFence.owns(full, gr: gr, mode: mode, spec: spec, namespaceLabels: labels)
                            == ShardFence.owns(reduced, gr: gr, mode: mode, spec: spec, namespaceLabels: labels))
                }
            }
        }
    }
}
