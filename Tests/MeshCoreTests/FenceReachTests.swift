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
        for (method, path) in [("PATCH", "/api/v1/namespaces/team-c"), ("PUT", "/api/v1/namespaces/team-c/status"),
                               ("PUT", "/api/v1/namespaces/team-c/finalize")] {
            #expect(decide(method, path, unsharded) == .judgeLabelMove, "\(method) \(path)")
            #expect(decide(method, path, sharded) == .judgeCurrent(.namespace), "\(method) \(path)")
        }
        #expect(decide("GET", "/api/v1/namespaces/team-c", unsharded) == .passThrough)
        let byName = ShardSpec(shard: "d", epoch: 1, resources: [secrets], owned: .init(namespaces: ["team-d"]))
        #expect(decide("PATCH", "/api/v1/namespaces/team-c", byName) == .passThrough)
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
    ] as [([String], JSON, Bool)])
    func whatADefinitionChangeReaches(_ path: [String], _ value: JSON, _ reaches: Bool) {
        var future = Self.definition
        future.setValue(value, at: path)
        #expect(DefinitionChange.reachesObjects(current: Self.definition, future: future) == reaches)
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

    /// A deletecollection that reaches the lock's collection deletes object by object, other
    /// shards' locks left out, whether or not leases are sharded.
    @Test func aDeletecollectionOverTheLocksIsJudgedObjectByObject() {
        let lock = ShardSpec.LeaderElectionLock(namespace: "team-a", name: "lock")
        let unsharded = ShardSpec(shard: "a", epoch: 1, resources: [], owned: .init(namespaces: ["team-a"]), leaderElection: lock)
        let leases = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases"
        #expect(decide("DELETE", leases, unsharded) == .deleteOwned(nil))
        #expect(decide("DELETE", "/apis/coordination.k8s.io/v1/leases", unsharded) == .deleteOwned(nil))
        #expect(decide("DELETE", "/apis/coordination.k8s.io/v1/namespaces/team-b/leases", unsharded) == .passThrough)
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
