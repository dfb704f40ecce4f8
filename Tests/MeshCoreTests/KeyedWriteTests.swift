import KubeModel
@testable import MeshCore
import Testing

/// Both sides of an object-keyed write: what the write leaves behind decides as much as what
/// it finds.
@Suite struct KeyedWriteTests {
    let current: JSON = [
        "apiVersion": "v1", "kind": "Pod",
        "metadata": ["name": "p", "namespace": "ns", "uid": "pod-uid", "resourceVersion": "41",
                     "ownerReferences": [["apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "mine",
                                          "uid": "owned-uid", "controller": true]]],
        "spec": ["containers": [["name": "c", "image": "a"]]],
    ]
    let foreign: JSON = ["apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "theirs", "uid": "foreign-uid", "controller": true]

    func plan(_ verb: RequestInfo.Verb, _ contentType: String, _ body: JSON, subresource: String? = nil) -> Result<KeyedWrite.Plan, StatusError> {
        let method = verb == .update ? "PUT" : "PATCH"
        let info = RequestInfo.classify(method: method, target: "/api/v1/namespaces/ns/pods/p" + (subresource.map { "/" + $0 } ?? ""))!
        return KeyedWrite.plan(current: current, info: info, contentType: contentType, body: body.serialized(), keyField: "ownerReferences")
    }

    @Test func aPatchOfTheSpecKeepsTheKeyAndIsPinnedToTheJudgedVersion() throws {
        let result = try plan(.patch, "application/merge-patch+json", ["spec": ["activeDeadlineSeconds": 5]]).get()
        #expect(result.future.controllerUID == "owned-uid")
        let pinned = try JSON.parse(try #require(result.body))
        #expect(pinned["metadata"]?["resourceVersion"] == "41")
        // The client's own precondition stands when it names the judged version, and is a
        // conflict when it names another.
        #expect(try plan(.patch, "application/merge-patch+json", ["metadata": ["resourceVersion": "41"]]).get().body == nil)
        #expect { try plan(.patch, "application/merge-patch+json", ["metadata": ["resourceVersion": "40"]]).get() } throws: {
            ($0 as? StatusError)?.code == 409
        }
    }

    @Test(arguments: ["application/merge-patch+json", "application/strategic-merge-patch+json"])
    func aPatchToAForeignControllerShowsTheForeignKey(_ contentType: String) throws {
        // A strategic merge patch merges owner references by uid: it must delete the old one.
        let strategic = contentType.contains("strategic")
        let references: JSON = strategic ? [foreign, ["uid": "owned-uid", "$patch": "delete"]] : [foreign]
        let result = try plan(.patch, contentType, ["metadata": ["ownerReferences": references]]).get()
        #expect(result.future.controllerUID == "foreign-uid")
        let pinned = try JSON.parse(try #require(result.body))
        #expect(pinned["metadata"]?["resourceVersion"] == "41")
    }

    @Test func aJSONPatchThatReplacesTheOwnerIsAppliedAndPinned() throws {
        let body: JSON = [["op": "replace", "path": "/metadata/ownerReferences/0/uid", "value": "foreign-uid"]]
        let result = try plan(.patch, "application/json-patch+json", body).get()
        #expect(result.future.controllerUID == "foreign-uid")
        let operations = try JSON.parse(try #require(result.body)).arrayValue ?? []
        #expect(operations.first == ["op": "test", "path": "/metadata/resourceVersion", "value": "41"])
        let longest = JSON.array(Array(repeating: ["op": "test", "path": "/kind", "value": "Pod"], count: KeyedWrite.maxClientPatchOperations + 1))
        #expect { try plan(.patch, "application/json-patch+json", longest).get() } throws: { ($0 as? StatusError)?.code == 413 }
    }

    @Test func anUpdateIsJudgedByItsBodyAndPinnedToTheJudgedVersion() throws {
        var body = current
        body.setMetadata("ownerReferences", [foreign])
        body.setMetadata("uid", nil)
        let result = try plan(.update, "application/json", body).get()
        #expect(result.future.controllerUID == "foreign-uid" && result.future.uid == "pod-uid")
        #expect(result.body == nil)  // it names the version judged already
        body.setMetadata("resourceVersion", nil)
        #expect(try JSON.parse(try #require(try plan(.update, "application/json", body).get().body)).resourceVersion == "41")
        body.setMetadata("resourceVersion", "39")
        #expect { try plan(.update, "application/json", body).get() } throws: { ($0 as? StatusError)?.code == 409 }
    }

    @Test func aStrategicPatchAddingASecondControllerIsRefused() {
        #expect { try plan(.patch, "application/strategic-merge-patch+json", ["metadata": ["ownerReferences": [foreign]]]).get() } throws: {
            ($0 as? StatusError)?.code == 422
        }
    }

    @Test func twoControllersAndUnreadableBodiesAreRefused() {
        var body = current
        body.setMetadata("ownerReferences", [current.metadataValue("ownerReferences")!.arrayValue![0], foreign])
        #expect(throws: StatusError.self) { try plan(.update, "application/json", body).get() }
        #expect(throws: StatusError.self) { try plan(.patch, "application/merge-patch+json", ["metadata": ["ownerReferences": [["uid": "x", "controller": "true"]]]]).get() }
        #expect(throws: StatusError.self) { try plan(.patch, "application/apply-patch+yaml", ["metadata": [:]]).get() }
        #expect(throws: StatusError.self) { try plan(.patch, "text/plain", [:]).get() }
    }

    /// A Namespace owned through a label selector leaves the shard when a write drops its
    /// labels: the future is judged by the labels it will have, none included.
    @Test func droppingANamespacesLabelsIsSeen() throws {
        let spec = ShardSpec(shard: "s", epoch: 1, resources: [.init(apiGroups: [""], resources: ["namespaces"], key: .namespace)],
                             owned: .init(namespaceSelectors: [try LabelSelector(parsing: "tier=gold")]))
        let namespace: JSON = ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "n", "uid": "ns-uid", "labels": ["tier": "gold"]]]
        let info = RequestInfo.classify(method: "PATCH", target: "/api/v1/namespaces/n")!
        #expect(ShardFence.decide(info, spec: spec) { _ in ["tier": "gold"] } == .judgeNamespaceWrite(.init(sharded: true)))
        let plan = try KeyedWrite.plan(current: namespace, info: info, contentType: "application/merge-patch+json",
                                       body: (["metadata": ["labels": .null]] as JSON).serialized(), keyField: "labels").get()
        let cached: (String) -> [String: String]? = { _ in ["tier": "gold"] }
        #expect(spec.owns(ObjectIdentity(json: namespace), mode: .namespace, isNamespaceResource: true, namespaceLabels: cached))
        #expect(!spec.owns(plan.future, mode: .namespace, isNamespaceResource: true, namespaceLabels: cached))
    }

    /// A built-in kind's status write keeps the metadata it carries: it is judged by its body
    /// as the object itself is. A Scale body changes replicas alone.
    @Test func statusWritesAreJudgedByTheirBodyAndScaleWritesAreNot() throws {
        let status = try plan(.update, "application/json", ["metadata": ["ownerReferences": [foreign]]], subresource: "status").get()
        #expect(status.future.controllerUID == "foreign-uid")
        #expect(try JSON.parse(try #require(status.body)).resourceVersion == "41")
        let patched = try plan(.patch, "application/merge-patch+json", ["metadata": ["ownerReferences": [foreign]]], subresource: "status").get()
        #expect(patched.future.controllerUID == "foreign-uid")
        let scale = try plan(.update, "application/json", ["metadata": ["ownerReferences": [foreign]], "spec": ["replicas": 3]], subresource: "scale").get()
        #expect(scale.future.controllerUID == "owned-uid")
        #expect(try JSON.parse(try #require(scale.body)).resourceVersion == "41")
    }

    /// Without a key field the whole object matters: a patch is always applied.
    @Test func withoutAKeyFieldTheWholeFutureIsWorkedOut() throws {
        let info = RequestInfo.classify(method: "PATCH", target: "/api/v1/namespaces/ns/pods/p")!
        let body = (["spec": ["activeDeadlineSeconds": 5]] as JSON).serialized()
        let plan = try KeyedWrite.plan(current: current, info: info, contentType: "application/merge-patch+json", body: body, keyField: nil).get()
        #expect(plan.object?["spec"]?["activeDeadlineSeconds"] == 5)
        let keyed = try KeyedWrite.plan(current: current, info: info, contentType: "application/merge-patch+json", body: body,
                                        keyField: "ownerReferences").get()
        #expect(keyed.object == nil)
    }

    @Test func deletesArePinnedAndAClientPreconditionOnAnotherObjectIsAConflict() throws {
        let pinned = try JSON.parse(try DeletePin.pinned(contentType: nil, body: [], uid: "pod-uid", resourceVersion: "41", mode: .object).get())
        #expect(pinned["preconditions"]?["uid"] == "pod-uid")
        let other = Array(#"{"preconditions":{"uid":"namesake"}}"#.utf8)
        #expect { try DeletePin.pinned(contentType: "application/json", body: other, uid: "pod-uid", resourceVersion: "41", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 409
        }
        #expect { try DeletePin.pinned(contentType: "application/json", body: Array("[1]".utf8), uid: "pod-uid", resourceVersion: "41", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 400
        }
        let orphan = Array(#"{"propagationPolicy":"Orphan"}"#.utf8)
        #expect { try DeletePin.pinned(contentType: nil, body: orphan, uid: "pod-uid", resourceVersion: "41", mode: .object).get() } throws: {
            ($0 as? StatusError)?.code == 403
        }
        #expect((try? DeletePin.pinned(contentType: nil, body: orphan, uid: "pod-uid", resourceVersion: "41", mode: .namespace).get()) != nil)
    }
}

@Suite struct RequestClassifierTests {
    @Test(arguments: [
        ("GET", "/api/v1/namespaces/a/secrets/s#/x", 400), ("GET", "/api/v1//secrets", 400),
        ("GET", "/foo", 403), ("GET", "/metrics", 403), ("GET", "/debug/ctrlmesh/writes", 403), ("GET", "/", 403),
        ("POST", "/apis", 405), ("DELETE", "/version", 405), ("GET", "/api/v1/namespaces/a/secrets/s/x/y", 404),
        ("OPTIONS", "/api/v1/secrets", 405), ("GET", "/openapi/v2/x", 403), ("GET", "/healthz/etcd", 403),
        ("HEAD", "/api/v1/namespaces/a/pods/p", 405), ("HEAD", "/api/v1/pods", 405), ("DELETE", "/api/v1/watch/pods", 405),
        ("POST", "/api/v1/watch/namespaces/a/configmaps", 405), ("PATCH", "/apis/apps/v1/watch/namespaces/a/deployments/d", 405),
        ("DELETE", "/api/v1/watch", 404),
    ])
    func refusals(_ method: String, _ target: String, _ code: Int) {
        guard case .refused(let status) = RequestClassifier.classify(method: method, target: target) else {
            Issue.record("\(method) \(target) was let through")
            return
        }
        #expect(status.code == code)
    }

    @Test(arguments: ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v2", "/openapi/v3",
                      "/openapi/v3/apis/apps/v1?hash=AB", "/healthz", "/readyz", "/livez"])
    func allowedNonResourceReads(_ target: String) {
        guard case .nonResource = RequestClassifier.classify(method: "GET", target: target) else {
            Issue.record("\(target) was not allowed")
            return
        }
    }
}
