import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

/// The pieces of the fence where writes land: the stamp, the grant record, the judgement of
/// a stamped write, the departure check in the proxy, and the writes to the mesh's own objects.
@Suite struct WriteFenceTests {
    static let config = try! MeshConfig(object: [
        "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig", "metadata": ["name": "op", "namespace": "ns"],
        "spec": ["selector": ["matchLabels": ["app": "op"]],
                 "resources": [["apiGroups": ["apps.kruise.io"], "resources": ["clonesets"]], ["apiGroups": [""], "resources": ["pods"]]],
                 "sharding": ["mode": "ObjectHash", "slots": 4]],
    ])
    static let clonesets = GroupResource(group: "apps.kruise.io", resource: "clonesets")

    /// A uid whose key falls in `slot` of 4.
    static func uid(inSlot slot: Int) -> String {
        (0...).lazy.map { "uid-\($0)" }.first { Int(FNV1a64.hash($0) >> 62) == slot }!
    }

    static func identity(uid: String, controller: String? = nil) -> ObjectIdentity {
        var identity = ObjectIdentity()
        identity.namespace = "apps"
        identity.name = "x"
        identity.uid = uid
        identity.controllerUID = controller
        return identity
    }

    /// Slots 0-1 granted to shard a at epoch 3, slots 2-3 to shard b at epoch 7.
    static let fence = GrantFence(config: config, grants: ShardGrants(term: 1, units: [
        0: .init(shard: "a", epoch: 3), 1: .init(shard: "a", epoch: 3), 2: .init(shard: "b", epoch: 7), 3: .init(shard: "b", epoch: 7),
    ]))

    func refusal(_ stamp: WriterStamp, old: ObjectIdentity?, new: ObjectIdentity?, gr: GroupResource = WriteFenceTests.clonesets) -> String? {
        WriteFenceTests.fence.refusal(stamp, gr: gr, old: old, new: new, namespaceLabels: { _ in nil })
    }

    @Test func aWriteIsAllowedOnlyToTheHoldersKeysAtItsGrantEpochOrLater() {
        let mine = Self.identity(uid: Self.uid(inSlot: 0))
        let theirs = Self.identity(uid: Self.uid(inSlot: 3))
        let a = { WriterStamp(mesh: "ctrlmesh.kruise.io/ns/op", shard: "a", epoch: $0) }
        #expect(refusal(a(3), old: mine, new: mine) == nil)
        #expect(refusal(a(9), old: mine, new: mine) == nil, "a later epoch of the holder")
        #expect(refusal(a(2), old: mine, new: mine)?.contains("granted to shard a at epoch 3") == true, "an epoch before the grant")
        #expect(refusal(a(9), old: theirs, new: theirs)?.contains("granted to shard b at epoch 7") == true)
        #expect(refusal(a(9), old: mine, new: nil) == nil, "a delete of its own")
        #expect(refusal(a(9), old: theirs, new: nil) != nil, "a delete of b's")
        // Both sides: a write that moves an object to another owner's key.
        let moved = Self.identity(uid: Self.uid(inSlot: 0), controller: Self.uid(inSlot: 2))
        #expect(refusal(a(9), old: mine, new: moved)?.contains("as written") == true)
        // A pod follows its controller's key.
        #expect(refusal(a(9), old: nil, new: Self.identity(uid: "fresh", controller: Self.uid(inSlot: 1)), gr: GroupResource(group: "", resource: "pods")) == nil)
        #expect(refusal(a(9), old: nil, new: Self.identity(uid: "fresh", controller: Self.uid(inSlot: 2)), gr: GroupResource(group: "", resource: "pods")) != nil)
    }

    @Test func freshObjectsUnshardedResourcesAndUngrantedKeys() {
        let stamp = WriterStamp(mesh: "ctrlmesh.kruise.io/ns/op", shard: "a", epoch: 3)
        #expect(refusal(stamp, old: nil, new: Self.identity(uid: Self.uid(inSlot: 3))) == nil, "a create without a controller: a fresh key")
        #expect(refusal(stamp, old: Self.identity(uid: Self.uid(inSlot: 3)), new: nil, gr: GroupResource(group: "", resource: "configmaps")) == nil)
        let half = GrantFence(config: Self.config, grants: ShardGrants(term: 1, units: [0: .init(shard: "a", epoch: 3)]))
        let inSlot1 = Self.identity(uid: Self.uid(inSlot: 1))
        #expect(half.refusal(stamp, gr: Self.clonesets, old: inSlot1, new: inSlot1, namespaceLabels: { _ in nil })?.contains("granted to no shard") == true)
    }

    @Test func theRecordReadsBackAndRefusesWhatItCannotRead() throws {
        let grants = WriteFenceTests.fence.grants
        #expect(ShardGrants(json: grants.json, unitCount: 4) == grants)
        #expect(grants.json["holders"]?.arrayValue?.count == 2)
        for bad: JSON in [["holders": []], ["term": -1, "holders": []], ["term": 1, "holders": [["shard": "a", "epoch": 1, "units": "0-9"]]],
                          ["term": 1, "holders": [["shard": "a", "epoch": 1, "units": "0"], ["shard": "b", "epoch": 2, "units": "0"]]],
                          ["term": 1, "holders": [["shard": "", "epoch": 1, "units": "0"]]], "junk"] {
            #expect(ShardGrants(json: bad, unitCount: 4) == nil, "\(bad)")
        }
        #expect(grants.covers(shard: "b", epoch: 7, units: [2, 3]) && !grants.covers(shard: "b", epoch: 6, units: [2]))
        #expect(!grants.covers(shard: "a", epoch: 9, units: [1, 2]) && grants.covers(shard: "a", epoch: 3, units: []))
    }

    @Test func storedFencesJudgeByTheConfigAsStoredAtEachVersion() {
        var stored: JSON = [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig", "metadata": ["name": "op", "namespace": "ns"],
            "spec": ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": ["apps.kruise.io"], "resources": ["clonesets"]]],
                     "sharding": ["mode": "ObjectHash", "slots": 4]],
            "status": ["grants": Self.fence.grants.json],
        ]
        var version: UInt64 = 1
        let fences = StoredGrantFences()
        let configs = GroupResource(group: "ctrlmesh.kruise.io", resource: "shardingconfigs")
        func refusal(_ stamp: WriterStamp) -> String? {
            let object = Self.identity(uid: Self.uid(inSlot: 0))
            let json: JSON = ["metadata": ["namespace": .string(object.namespace), "name": .string(object.name), "uid": .string(object.uid)]]
            return fences.judge(stamp, Self.clonesets, json, json) { gr, namespace, name in
                gr == configs && namespace == "ns" && name == "op" ? (stored, version) : nil
            }
        }
        let a3 = WriterStamp(mesh: "ctrlmesh.kruise.io/ns/op", shard: "a", epoch: 3)
        #expect(refusal(a3) == nil)
        // The grant moves to b at a later version of the config: the same stamp is refused.
        stored.setValue(ShardGrants(term: 2, units: [0: .init(shard: "b", epoch: 8)]).json, at: ["status", "grants"])
        #expect(refusal(a3) == nil, "the parse is kept while the stored version is the same")
        version = 2
        #expect(refusal(a3)?.contains("granted to shard b at epoch 8") == true)
        #expect(refusal(WriterStamp(mesh: "ctrlmesh.kruise.io/ns/gone", shard: "a", epoch: 3))?.contains("does not exist") == true)
        #expect(refusal(WriterStamp(mesh: nil, shard: "a", epoch: 1)) == nil, "a hand-written spec's writes are only audited")
        stored.setValue(["mode": "Nonsense"], at: ["spec", "sharding"])
        version = 3
        #expect(refusal(a3)?.contains("is invalid") == true, "a config that cannot be read refuses, it does not let by")
    }

    @Test func theStampTravelsAsImpersonationExtras() {
        let stamp = WriterStamp(mesh: "ctrlmesh.kruise.io/ns/op", shard: "a", epoch: 12)
        let headers = stamp.headers
        #expect(headers.map(\.name).allSatisfy { $0.hasPrefix("Impersonate-Extra-ctrlmesh.kruise.io%2F") })
        #expect(WriterStamp.read(extras: WriterStamp.extras(ofHeaders: headers)) == .stamp(stamp))
        // However a client spells the names, they are the stamp's: dropped at the proxy.
        for name in ["impersonate-extra-ctrlmesh.kruise.io%2fshard", "IMPERSONATE-EXTRA-CTRLMESH.KRUISE.IO%2FEPOCH",
                     "Impersonate-Extra-ctrlmesh%2Ekruise.io%2Fmesh", "impersonate-extra-ctrlmesh.other"] {
            #expect(WriterStamp.isStampHeader(name), "\(name)")
        }
        #expect(!WriterStamp.isStampHeader("Impersonate-Extra-scopes") && !WriterStamp.isStampHeader("impersonate-user"))
        #expect(!ForwardedHeaders.forwards("impersonate-extra-ctrlmesh.kruise.io%2Fshard") && ForwardedHeaders.forwards("Impersonate-Extra-scopes"))
    }

    @Test func aStampThatCannotBeReadWholeIsInvalid() {
        #expect(WriterStamp.read(extras: [:]) == .none)
        #expect(WriterStamp.read(extras: ["scopes": ["x"]]) == .none)
        for extras: [String: [String]] in [["ctrlmesh.kruise.io/shard": ["a"]], ["ctrlmesh.kruise.io/epoch": ["1"]],
                                           ["ctrlmesh.kruise.io/shard": ["a"], "ctrlmesh.kruise.io/epoch": ["x"]],
                                           ["ctrlmesh.kruise.io/shard": ["a", "b"], "ctrlmesh.kruise.io/epoch": ["1"]],
                                           ["ctrlmesh.kruise.io/shard": [""], "ctrlmesh.kruise.io/epoch": ["1"]],
                                           ["ctrlmesh.kruise.io/shard": ["a"], "ctrlmesh.kruise.io/epoch": ["-1"]]] {
            guard case .invalid = WriterStamp.read(extras: extras) else { Issue.record("\(extras) was read"); continue }
        }
        #expect(WriterStamp.read(extras: ["ctrlmesh.kruise.io/shard": ["a"], "ctrlmesh.kruise.io/epoch": ["1"]])
            == .stamp(WriterStamp(mesh: nil, shard: "a", epoch: 1)))
    }

    @Test func anAdmittedWriteLeavesOnlyUnderTheSpecItWasJudgedByWhileTheLeaseHolds() {
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: 4, leaseValid: true, age: .seconds(1), bound: .seconds(5)) == nil)
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: 4, leaseValid: nil, age: .seconds(1), bound: .seconds(5)) == nil)
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: 5, leaseValid: true, age: .zero, bound: .seconds(5))?.contains("from epoch 4 to 5") == true)
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: nil, leaseValid: true, age: .zero, bound: .seconds(5))?.contains("fenced") == true)
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: 4, leaseValid: false, age: .zero, bound: .seconds(5))?.contains("lease") == true)
        #expect(WriteDeparture.refusal(admittedEpoch: 4, currentEpoch: 4, leaseValid: true, age: .seconds(6), bound: .seconds(5)) != nil)
    }

    @Test func theMeshsOwnObjectsAreNotWrittenThroughAProxy() throws {
        func info(_ method: String, _ path: String) throws -> RequestInfo {
            try #require(RequestInfo.classify(method: method, target: try RequestTarget.parse(path)))
        }
        for (method, path) in [("PATCH", "/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/ns/shardingconfigs/op/status"),
                               ("PUT", "/apis/ctrlmesh.kusionstack.io/v1alpha1/namespaces/ns/shardingconfigs/op"),
                               ("DELETE", "/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/ns/circuitbreakers/cb"),
                               ("POST", "/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/ns/faultinjections"),
                               ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/ctrlmesh-member-op-1"),
                               ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/ctrlmesh-member-op-1")] {
            #expect(MeshControlWrite.refusal(try info(method, path)) != nil, "\(method) \(path)")
        }
        #expect(MeshControlWrite.refusal(try info("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases"), bodyName: "ctrlmesh-member-x") != nil)
        // A deletecollection of Leases is split by the proxy, which leaves members' leases out.
        let leases = try info("DELETE", "/apis/coordination.k8s.io/v1/namespaces/ns/leases")
        #expect(ShardFence.decide(leases, spec: ShardSpec(shard: "a", epoch: 1, resources: [], owned: .init()), namespaceLabels: { _ in nil })
            == .deleteOwned(nil))
        #expect(MeshControlWrite.isMemberLease(gr: leases.groupResource, name: "ctrlmesh-member-x"))
        for (method, path) in [("GET", "/apis/ctrlmesh.kruise.io/v1alpha1/namespaces/ns/shardingconfigs/op"),
                               ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/op-lock"),
                               ("PATCH", "/apis/apps.kruise.io/v1alpha1/namespaces/ns/clonesets/cs")] {
            #expect(MeshControlWrite.refusal(try info(method, path)) == nil, "\(method) \(path)")
        }
    }

    @Test func aTokenProvesOnlyThePodItWasBoundToRunningAsItsAccount() throws {
        let reviewed: JSON = ["status": ["authenticated": true, "audiences": [.string(TokenReviewProof.audience)], "user": [
            "username": "system:serviceaccount:ns:op",
            "extra": ["authentication.kubernetes.io/pod-name": ["op-0"], "authentication.kubernetes.io/pod-uid": ["u-1"]]]]]
        let bound = try TokenReviewProof.boundPod(reviewed: reviewed).get()
        #expect(bound == .init(namespace: "ns", name: "op-0", uid: "u-1", serviceAccount: "op"))
        let pod: JSON = ["metadata": ["name": "op-0", "uid": "u-1"], "spec": ["serviceAccountName": "op"]]
        #expect(try TokenReviewProof.proof(bound, current: pod).get() == .pod(namespace: "ns", name: "op-0"))
        var other = pod
        other.setValue("u-2", at: ["metadata", "uid"])
        #expect((try? TokenReviewProof.proof(bound, current: other).get()) == nil, "a new pod of the same name")
        other = pod
        other.setValue("someone", at: ["spec", "serviceAccountName"])
        #expect((try? TokenReviewProof.proof(bound, current: other).get()) == nil, "a pod of another account")
        #expect((try? TokenReviewProof.proof(bound, current: nil).get()) == nil)
        var unbound = reviewed
        unbound.setValue(.object(JSONObject()), at: ["status", "user", "extra"])
        #expect((try? TokenReviewProof.boundPod(reviewed: unbound).get()) == nil)
        var user = reviewed
        user.setValue("alice", at: ["status", "user", "username"])
        #expect((try? TokenReviewProof.boundPod(reviewed: user).get()) == nil)
        var audience = reviewed
        audience.setValue(["api"], at: ["status", "audiences"])
        #expect((try? TokenReviewProof.boundPod(reviewed: audience).get()) == nil)
        #expect((try? TokenReviewProof.boundPod(reviewed: ["status": ["authenticated": false]]).get()) == nil)
    }

    /// Every change of a breaker between two reports is one entry, alternating, ending in the
    /// state reported.
    @Test func breakerTransitionsAreListedOneByOne() async {
        #expect(BreakerTransitions.entered(previous: ("Opened", 3), state: "Opened", count: 5) == ["Closed", "Opened"])
        #expect(BreakerTransitions.entered(previous: ("Closed", 2), state: "Closed", count: 2) == [])
        #expect(BreakerTransitions.entered(previous: nil, state: "Opened", count: 1) == ["Opened"])
        #expect(BreakerTransitions.entered(previous: ("Closed", 0), state: "Opened", count: 0) == ["Opened"], "a forced trigger")
        #expect(BreakerTransitions.entered(previous: ("Opened", 9), state: "Opened", count: 1) == ["Opened"], "a restarted proxy")
        await propertyCheck(input: Gen.int(in: 0...1), Gen.int(in: 0...50), Gen.int(in: 0...60)) { startOpen, before, changes in
            let start = startOpen == 1 ? "Opened" : "Closed"
            let end = changes % 2 == 0 ? start : (start == "Opened" ? "Closed" : "Opened")
            let entered = BreakerTransitions.entered(previous: (start, before), state: end, count: before + changes)
            #expect(entered.count == min(changes, BreakerTransitions.limit))
            #expect(entered.last ?? start == end)
            #expect(zip(entered, entered.dropFirst()).allSatisfy { $0 != $1 })
        }
    }
}
