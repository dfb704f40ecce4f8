import KubeModel
@testable import MeshCore
import Testing

/// Writes that reach past the object they name: a Namespace's labels move everything in it, a
/// CustomResourceDefinition rewrites every object of its resource, a binding or an eviction
/// acts on a pod, another shard's leader lock sits among this shard's leases.
@Suite struct FenceReachTests {
    static let gold = try! LabelSelector(parsing: "tier=gold")
    static let half = [HashRange(start: 0, last: 1 << 62)]

    func decide(_ method: String, _ uri: String, _ spec: ShardSpec) -> FenceDecision {
        ShardFence.decide(RequestInfo.classify(method: method, target: uri)!, spec: spec) { _ in ["tier": "gold"] }
    }

    /// Whether or not namespaces are themselves sharded, a shard that owns namespaces through
    /// their labels has its writes to a Namespace judged, through status and finalize too.
    @Test func namespaceWritesAreJudgedWhereverLabelsDecideOwnership() {
        let secrets = ShardSpec.ResourceRule(apiGroups: [""], resources: ["secrets"], key: .namespace)
        let namespaces = ShardSpec.ResourceRule(apiGroups: [""], resources: ["namespaces"], key: .namespace)
        let unsharded = ShardSpec(shard: "b", epoch: 1, resources: [secrets], owned: .init(namespaceSelectors: [Self.gold]))
        let sharded = ShardSpec(shard: "c", epoch: 1, resources: [secrets, namespaces], owned: .init(namespaceSelectors: [Self.gold]))
        // The decide helper labels every namespace gold: this shard owns everything in them.
        for (method, path) in [("PATCH", "/api/v1/namespaces/team-c"), ("PUT", "/api/v1/namespaces/team-c/status"),
                               ("PUT", "/api/v1/namespaces/team-c/finalize")] {
            #expect(decide(method, path, unsharded) == .judgeNamespaceWrite(.init(sharded: false)), "\(method) \(path)")
            #expect(decide(method, path, sharded) == .judgeNamespaceWrite(.init(sharded: true)), "\(method) \(path)")
        }
        #expect(decide("GET", "/api/v1/namespaces/team-c", unsharded) == .passThrough)
        let byName = ShardSpec(shard: "d", epoch: 1, resources: [secrets], owned: .init(namespaces: ["team-d"]))
        #expect(decide("PATCH", "/api/v1/namespaces/team-d", byName) == .passThrough)
    }

    /// Everything about a namespace reaches what is in it (owners, labels, annotations,
    /// finalizers, status): only a shard that owns everything in it writes it, and a namespace
    /// born with owners must be one such.
    @Test func onlyAShardThatOwnsEverythingInANamespaceWritesIt() throws {
        let secrets = ShardSpec.ResourceRule(apiGroups: [""], resources: ["secrets"], key: .namespace)
        let pods = ShardSpec.ResourceRule(apiGroups: [""], resources: ["pods"], key: .object)
        let byName = ShardSpec(shard: "d", epoch: 1, resources: [secrets], owned: .init(namespaces: ["team-d"]))
        for (method, path) in [("PATCH", "/api/v1/namespaces/team-c"), ("PUT", "/api/v1/namespaces/team-c"),
                               ("PUT", "/api/v1/namespaces/team-c/status"), ("PUT", "/api/v1/namespaces/team-c/finalize")] {
            guard case .refuse(let message) = decide(method, path, byName) else { Issue.record("\(method) \(path) passed"); continue }
            #expect(message.contains("reaches every object in it"))
        }
        #expect(decide("PATCH", "/api/v1/namespaces/team-d", byName) == .passThrough)
        let halfPods = ShardSpec(shard: "e", epoch: 1, resources: [pods], owned: .init(objectHashRanges: Self.half))
        guard case .refuse = decide("PATCH", "/api/v1/namespaces/anything", halfPods) else { Issue.record("half the pods, all the namespace"); return }
        let allPods = ShardSpec(shard: "e", epoch: 1, resources: [pods], owned: .init(objectHashRanges: [HashRange.all]))
        #expect(decide("PATCH", "/api/v1/namespaces/anything", allPods) == .passThrough)
        #expect(decide("PUT", "/api/v1/namespaces/anything/status", allPods) == .passThrough)
        #expect(NamespaceWrite(sharded: false).judgesOwnership(labelsChange: true))
        #expect(!NamespaceWrite(sharded: false).judgesOwnership(labelsChange: false))
        #expect(NamespaceWrite(sharded: true).judgesOwnership(labelsChange: false))

        // Creates: judged by the body, owners refused unless the shard would own everything in it.
        #expect(decide("POST", "/api/v1/namespaces", halfPods) == .judgeNamespaceCreate(sharded: false))
        let create = RequestInfo.classify(method: "POST", target: "/api/v1/namespaces")!
        func body(_ json: String) throws -> ObjectIdentity { try RequestBody.read(contentType: nil, bytes: Array(json.utf8)).get().identity }
        let owned = try body(#"{"metadata":{"name":"team-d","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"x","uid":"u"}]}}"#)
        #expect(ShardFence.namespaceOwnersRefusal(create, owned, spec: byName) == nil)
        #expect(ShardFence.namespaceOwnersRefusal(create, owned, spec: halfPods)?.contains("born with ownerReferences") == true)
        var elsewhere = owned
        elsewhere.name = "team-c"
        #expect(ShardFence.namespaceOwnersRefusal(create, elsewhere, spec: byName) != nil)
        elsewhere.name = ""
        #expect(ShardFence.namespaceOwnersRefusal(create, elsewhere, spec: allPods)?.contains("generateName") == true)
        #expect(ShardFence.namespaceOwnersRefusal(create, try body(#"{"metadata":{"name":"team-c"}}"#), spec: byName) == nil)
    }

    /// Admission webhooks and policies and APIServices reach every object they match: a shard
    /// that does not own all of them may not create or delete one, and its changes are judged.
    @Test func clusterReachingConfigurationIsJudgedOrRefused() {
        let widgets = ShardSpec.ResourceRule(apiGroups: ["example.com"], resources: ["widgets"], key: .object)
        let partial = ShardSpec(shard: "a", epoch: 1, resources: [widgets], owned: .init(objectHashRanges: Self.half))
        let whole = ShardSpec(shard: "a", epoch: 1, resources: [widgets], owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        for path in ["/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                     "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                     "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
                     "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
                     "/apis/apiregistration.k8s.io/v1/apiservices"] {
            for (method, target) in [("POST", path), ("DELETE", path + "/x"), ("DELETE", path)] {
                guard case .refuse = decide(method, target, partial) else { Issue.record("\(method) \(target) passed"); continue }
                #expect(decide(method, target, whole) == .passThrough)
            }
            #expect(decide("PATCH", path + "/x", partial) == .judgeDefinitionChange)
            #expect(decide("PUT", path + "/x", partial) == .judgeDefinitionChange)
            #expect(decide("GET", path + "/x", partial) == .passThrough)
            #expect(decide("GET", path, partial) == .passThrough)
        }
    }

    @Test func legacyBindingsFollowThePods() {
        let byNamespace = ShardSpec(shard: "a", epoch: 1, resources: [.init(apiGroups: [""], resources: ["pods"], key: .namespace)],
                                    owned: .init(namespaces: ["mine"]))
        #expect(decide("POST", "/api/v1/namespaces/mine/bindings", byNamespace) == .passThrough)
        guard case .refuse = decide("POST", "/api/v1/namespaces/theirs/bindings", byNamespace) else { Issue.record("bound into theirs"); return }
        let byObject = ShardSpec(shard: "a", epoch: 1, resources: [.init(apiGroups: [""], resources: ["pods"], key: .object)],
                                 owned: .init(objectHashRanges: Self.half))
        guard case .refuse = decide("POST", "/api/v1/namespaces/mine/bindings", byObject) else { Issue.record("bound unjudged"); return }
        #expect(decide("POST", "/api/v1/namespaces/mine/pods/p/binding", byObject) == .judgeCurrent(.object))
        #expect(decide("POST", "/api/v1/namespaces/mine/pods/p/eviction", byObject) == .judgeCurrent(.object))
        let noPods = ShardSpec(shard: "a", epoch: 1, resources: [], owned: .init())
        #expect(decide("POST", "/api/v1/namespaces/x/bindings", noPods) == .passThrough)
    }

    @Test func definitionWritesAreJudgedUnlessTheShardOwnsEveryObject() {
        let widgets = ShardSpec.ResourceRule(apiGroups: ["example.com"], resources: ["widgets"], key: .object)
        let partial = ShardSpec(shard: "a", epoch: 1, resources: [widgets], owned: .init(objectHashRanges: Self.half))
        let whole = ShardSpec(shard: "a", epoch: 1, resources: [widgets], owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        let crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        #expect(decide("PATCH", crd + "widgets.example.com", partial) == .judgeDefinitionChange)
        #expect(decide("PUT", crd + "widgets.example.com/status", partial) == .judgeDefinitionChange)
        #expect(decide("PATCH", crd + "widgets.example.com", whole) == .passThrough)
        #expect(decide("PATCH", crd + "gadgets.example.com", partial) == .passThrough)
        #expect(decide("POST", crd, partial) == .passThrough)
    }

    static let definition: JSON = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": ["name": "widgets.example.com", "resourceVersion": "7"],
        "spec": ["group": "example.com", "scope": "Namespaced", "names": ["plural": "widgets", "kind": "Widget"],
                 "conversion": ["strategy": "Webhook", "webhook": ["clientConfig": ["caBundle": "QUJD", "service": ["name": "w", "namespace": "s"]]]],
                 "versions": [["name": "v1", "served": true, "storage": true, "schema": ["openAPIV3Schema": ["type": "object"]]]]],
    ]

    @Test(arguments: [
        (["metadata", "annotations"], JSON.object(JSONObject()), false),
        (["spec", "conversion", "webhook", "clientConfig", "caBundle"], "REVG", false),
        (["spec", "conversion", "webhook", "clientConfig", "service", "name"], "evil", true),
        (["spec", "versions"], [["name": "v1", "served": false, "storage": true]], true),
        (["spec", "names", "plural"], "gadgets", true),
        (["status", "storedVersions"], ["v1"], false),
        (["metadata", "ownerReferences"], [["apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u"]], true),
    ] as [([String], JSON, Bool)])
    func whatADefinitionChangeReaches(_ path: [String], _ value: JSON, _ reaches: Bool) {
        var future = Self.definition
        future.setValue(value, at: path)
        #expect(DefinitionChange.reachesObjects(current: Self.definition, future: future) == reaches)
    }

    /// A webhook configuration may have its CA bundles rotated and nothing else changed.
    @Test func whatAWebhookChangeReaches() {
        let webhooks: JSON = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": ["name": "w"],
            "webhooks": [["name": "a.example.com", "clientConfig": ["caBundle": "QUJD", "service": ["name": "s", "namespace": "n"]],
                          "rules": [["apiGroups": ["example.com"], "resources": ["widgets"], "operations": ["CREATE"]]]]],
        ]
        var rotated = webhooks
        rotated.setValue(["a.example.com"], at: ["metadata", "finalizers"])
        if case .array(var list)? = rotated["webhooks"] {
            list[0].setValue("REVG", at: ["clientConfig", "caBundle"])
            rotated.setValue(.array(list), at: ["webhooks"])
        }
        #expect(!DefinitionChange.reachesObjects(current: webhooks, future: rotated))
        var widened = webhooks
        if case .array(var list)? = widened["webhooks"] {
            list[0].setValue([["apiGroups": ["*"], "resources": ["*"], "operations": ["*"]]], at: ["rules"])
            widened.setValue(.array(list), at: ["webhooks"])
        }
        #expect(DefinitionChange.reachesObjects(current: webhooks, future: widened))
    }

    @Test func evictionsAndBindingsArePinnedToThePodJudged() throws {
        let eviction = Array(#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p","namespace":"ns"}}"#.utf8)
        let pinned = try JSON.parse(try #require(try SubresourceCreatePin.pinned(subresource: "eviction", contentType: "application/json", body: eviction,
                                                                               uid: "pod-uid", resourceVersion: "41", mode: .object).get()))
        #expect(pinned["deleteOptions"]?["preconditions"] == ["uid": "pod-uid", "resourceVersion": "41"])
        let orphan = Array(#"{"kind":"Eviction","metadata":{"name":"p"},"deleteOptions":{"propagationPolicy":"Orphan"}}"#.utf8)
        #expect { try SubresourceCreatePin.pinned(subresource: "eviction", contentType: nil, body: orphan, uid: "u", resourceVersion: "1", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 403
        }
        let binding = Array(#"{"kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}"#.utf8)
        let bound = try JSON.parse(try #require(try SubresourceCreatePin.pinned(subresource: "binding", contentType: nil, body: binding,
                                                                              uid: "pod-uid", resourceVersion: "41", mode: .object).get()))
        #expect(bound.uid == "pod-uid" && bound.resourceVersion == "41" && bound["target"]?["name"] == "n1")
        let namesake = Array(#"{"kind":"Binding","metadata":{"name":"p","uid":"other"},"target":{"name":"n1"}}"#.utf8)
        #expect { try SubresourceCreatePin.pinned(subresource: "binding", contentType: nil, body: namesake, uid: "pod-uid", resourceVersion: "41", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 409
        }
        #expect { try SubresourceCreatePin.pinned(subresource: "eviction", contentType: "application/vnd.kubernetes.protobuf", body: [1], uid: "u", resourceVersion: "1", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 415
        }
        #expect { try SubresourceCreatePin.pinned(subresource: "eviction", contentType: nil, body: Array("[]".utf8), uid: "u", resourceVersion: "1", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 400
        }
        #expect(try SubresourceCreatePin.pinned(subresource: "exec", contentType: nil, body: [], uid: "u", resourceVersion: "1", mode: .object).get() == nil)
    }

    @Test func anotherShardsLockIsNeverThisShards() {
        let lock = ShardSpec.LeaderElectionLock(namespace: "team-a", name: "lock")
        let leases = GroupResource(group: "coordination.k8s.io", resource: "leases")
        #expect(LeaderLockRename.isAnotherShardsLock(gr: leases, namespace: "team-a", name: "lock---shard-b", lock: lock, shard: "shard-a"))
        #expect(!LeaderLockRename.isAnotherShardsLock(gr: leases, namespace: "team-a", name: "lock---shard-a", lock: lock, shard: "shard-a"))
        #expect(!LeaderLockRename.isAnotherShardsLock(gr: leases, namespace: "team-a", name: "other", lock: lock, shard: "shard-a"))
        #expect(!LeaderLockRename.isAnotherShardsLock(gr: leases, namespace: "team-b", name: "lock---shard-b", lock: lock, shard: "shard-a"))
        let create = RequestInfo.classify(method: "POST", target: "/apis/coordination.k8s.io/v1/namespaces/team-a/leases")!
        #expect(LeaderLockRename.targetsRenamedLock(create, bodyName: "lock---", lock: lock))
    }

    /// A deletecollection that reaches the lock's collection (or any Leases) deletes object by
    /// object, other shards' locks and members' liveness leases left out, whether or not
    /// leases are sharded.
    @Test func aDeletecollectionOverTheLocksIsJudgedObjectByObject() {
        let lock = ShardSpec.LeaderElectionLock(namespace: "team-a", name: "lock")
        let unsharded = ShardSpec(shard: "a", epoch: 1, resources: [], owned: .init(namespaces: ["team-a"]), leaderElection: lock)
        let leases = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases"
        #expect(decide("DELETE", leases, unsharded) == .deleteOwned(nil))
        #expect(decide("DELETE", "/apis/coordination.k8s.io/v1/leases", unsharded) == .deleteOwned(nil))
        // Any namespace's leases may hold members' liveness leases: split there too.
        #expect(decide("DELETE", "/apis/coordination.k8s.io/v1/namespaces/team-b/leases", unsharded) == .deleteOwned(nil))
        #expect(decide("DELETE", "/api/v1/namespaces/team-b/configmaps", unsharded) == .passThrough)
        let sharded = ShardSpec(shard: "a", epoch: 1, resources: [.init(apiGroups: ["coordination.k8s.io"], resources: ["leases"], key: .namespace)],
                                owned: .init(namespaces: ["team-a"]), leaderElection: lock)
        #expect(decide("DELETE", leases, sharded) == .deleteOwned(.namespace))
        guard case .refuse = decide("DELETE", "/apis/coordination.k8s.io/v1/namespaces/team-c/leases", sharded) else {
            Issue.record("deleted another shard's namespace")
            return
        }
    }
}

/// Only headers the API server reads go upstream, and a body the server would read otherwise
/// than the proxy is refused.
@Suite struct ForwardedHeadersTests {
    @Test func onlyWhatTheServerReadsIsForwarded() {
        for name in ["Accept", "content-type", "Authorization", "User-Agent", "Impersonate-User", "Impersonate-Extra-Scopes", "Audit-ID",
                     "Upgrade", "X-Stream-Protocol-Version"] {
            #expect(ForwardedHeaders.forwards(name), "\(name)")
        }
        for name in ["X-HTTP-Method-Override", "X-Remote-User", "X-Remote-Group", "Forwarded", "X-Forwarded-For", "X-Ctrlmesh-Shard",
                     "X-Ctrlmesh-Judged", "Content-Encoding", "Cookie"] {
            #expect(!ForwardedHeaders.forwards(name), "\(name)")
        }
    }

    @Test func encodedBodiesAndTwoContentTypesAreRefused() {
        typealias Headers = [(name: String, value: String)]
        #expect(ForwardedHeaders.refusal([("Content-Encoding", "gzip")] as Headers)?.code == 415)
        #expect(ForwardedHeaders.refusal([("content-encoding", "identity, br")] as Headers)?.code == 415)
        #expect(ForwardedHeaders.refusal([("Content-Encoding", "identity")] as Headers) == nil)
        #expect(ForwardedHeaders.refusal([("Content-Type", "application/json"), ("content-type", "application/yaml")] as Headers)?.code == 400)
        #expect(ForwardedHeaders.refusal([("Content-Type", "application/json"), ("Accept", "a"), ("Accept", "b")] as Headers) == nil)
    }
}
