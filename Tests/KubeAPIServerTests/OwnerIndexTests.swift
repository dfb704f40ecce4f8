@testable import KubeAPIServer
import KubeModel
import Testing

@Suite struct OwnerIndexTests {
    let cm = GroupResource(group: "", resource: "configmaps")

    func object(_ name: String, uid: String, owners: [String] = [], finalizers: [String] = [], deleting: Bool = false) -> JSON {
        var json: JSON = ["metadata": ["name": .string(name), "namespace": "ns", "uid": .string(uid)]]
        if !owners.isEmpty {
            json.setMetadata("ownerReferences", .array(owners.map { ["uid": .string($0), "kind": "ConfigMap", "name": "o"] }))
        }
        if !finalizers.isEmpty { json.setMetadata("finalizers", .array(finalizers.map { .string($0) })) }
        if deleting { json.setMetadata("deletionTimestamp", "2026-01-01T00:00:00Z") }
        return json
    }

    func ref(_ name: String, _ uid: String) -> OwnerIndex.Ref {
        OwnerIndex.Ref(resource: cm, key: ObjectKey(namespace: "ns", name: name), uid: uid)
    }

    @Test func deletingAnOwnerCollectsDependentsWhoseOwnersAreAllGone() {
        var index = OwnerIndex()
        _ = index.apply(.added, resource: cm, object: object("a", uid: "A"))
        _ = index.apply(.added, resource: cm, object: object("b", uid: "B"))
        #expect(index.apply(.added, resource: cm, object: object("only-a", uid: "1", owners: ["A"])).isEmpty)
        #expect(index.apply(.added, resource: cm, object: object("both", uid: "2", owners: ["A", "B"])).isEmpty)
        #expect(index.apply(.deleted, resource: cm, object: object("a", uid: "A")) == [.delete(ref("only-a", "1"))])
        #expect(index.apply(.deleted, resource: cm, object: object("b", uid: "B")) == [.delete(ref("both", "2"))])
    }

    @Test func aDependentCreatedAfterItsOwnerIsGoneIsCollected() {
        var index = OwnerIndex()
        #expect(index.apply(.added, resource: cm, object: object("d", uid: "1", owners: ["missing"])) == [.delete(ref("d", "1"))])
        let loaded = index.load([(cm, object("e", uid: "2", owners: ["also-missing"])), (cm, object("f", uid: "3", owners: ["2"]))])
        #expect(loaded == [.delete(ref("e", "2"))], "an owner present at load keeps its dependent")
    }

    @Test func foregroundDeletionWaitsForDependents() {
        var index = OwnerIndex()
        _ = index.apply(.added, resource: cm, object: object("o", uid: "O"))
        _ = index.apply(.added, resource: cm, object: object("d1", uid: "1", owners: ["O"]))
        _ = index.apply(.added, resource: cm, object: object("d2", uid: "2", owners: ["O"]))
        let marked = index.apply(.modified, resource: cm, object: object("o", uid: "O", finalizers: ["foregroundDeletion"], deleting: true))
        #expect(Set(marked) == [.delete(ref("d1", "1")), .delete(ref("d2", "2"))])
        #expect(index.apply(.deleted, resource: cm, object: object("d1", uid: "1", owners: ["O"])).isEmpty)
        #expect(index.apply(.deleted, resource: cm, object: object("d2", uid: "2", owners: ["O"])) == [.finishForeground(ref("o", "O"))])
        // Without dependents the owner finishes at once.
        _ = index.apply(.added, resource: cm, object: object("lone", uid: "L"))
        #expect(index.apply(.modified, resource: cm, object: object("lone", uid: "L", finalizers: ["foregroundDeletion"], deleting: true))
                == [.finishForeground(ref("lone", "L"))])
    }

    @Test func droppingAnOwnerReferenceReleasesTheDependent() {
        var index = OwnerIndex()
        _ = index.apply(.added, resource: cm, object: object("o", uid: "O"))
        _ = index.apply(.added, resource: cm, object: object("d", uid: "1", owners: ["O"]))
        _ = index.apply(.modified, resource: cm, object: object("d", uid: "1"))
        #expect(index.apply(.deleted, resource: cm, object: object("o", uid: "O")).isEmpty)
    }
}
