import KubeClient
import KubeModel
import Testing

/// ownerReference cascades in the embedded API server, driven through its REST API.
@Suite struct GarbageCollectionTests {
    let configMaps = EmbeddedCluster.configMaps

    func family(_ cluster: EmbeddedCluster, _ prefix: String, children: Int = 3) async throws -> (owner: JSON, children: [String]) {
        let owner = try await cluster.client.create(configMaps, namespace: "default", EmbeddedCluster.configMap("default", "\(prefix)-owner"))
        let reference: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "name": .string(owner.name ?? ""), "uid": .string(owner.uid ?? ""),
                               "controller": true, "blockOwnerDeletion": true]
        var names: [String] = []
        for i in 0..<children {
            let child = try await cluster.client.create(configMaps, namespace: "default",
                                                        EmbeddedCluster.configMap("default", "\(prefix)-child-\(i)", owners: [reference]))
            names.append(child.name ?? "")
        }
        return (owner, names)
    }

    func exists(_ cluster: EmbeddedCluster, _ name: String) async throws -> Bool {
        do {
            _ = try await cluster.client.get(configMaps, namespace: "default", name: name)
            return true
        } catch let error as StatusError where error.reason == .notFound {
            return false
        }
    }

    @Test func backgroundDeletionCollectsDependents() async throws {
        try await EmbeddedCluster.with { cluster in
            let (owner, children) = try await family(cluster, "bg")
            try await cluster.client.delete(configMaps, namespace: "default", name: owner.name ?? "")
            let gone = try await eventually { try await children.asyncAllSatisfy { try await !exists(cluster, $0) } }
            #expect(gone)
        }
    }

    @Test func orphanDeletionKeepsDependentsWithoutTheReference() async throws {
        try await EmbeddedCluster.with { cluster in
            let (owner, children) = try await family(cluster, "orphan")
            try await cluster.client.delete(configMaps, namespace: "default", name: owner.name ?? "", propagationPolicy: "Orphan")
            try await Task.sleep(for: .milliseconds(300))
            for name in children {
                let child = try await cluster.client.get(configMaps, namespace: "default", name: name)
                #expect(child.metadataValue("ownerReferences") == nil)
            }
        }
    }

    @Test func foregroundDeletionRemovesDependentsBeforeTheOwner() async throws {
        try await EmbeddedCluster.with { cluster in
            let (owner, children) = try await family(cluster, "fg")
            let answer = try await cluster.client.delete(configMaps, namespace: "default", name: owner.name ?? "", propagationPolicy: "Foreground")
            #expect(answer.deletionTimestamp != nil && answer.finalizers == ["foregroundDeletion"])
            let gone = try await eventually {
                let ownerGone = try await !exists(cluster, owner.name ?? "")
                let childrenGone = try await children.asyncAllSatisfy { try await !exists(cluster, $0) }
                return ownerGone && childrenGone
            }
            #expect(gone)
        }
    }

    @Test func aDependentOfAMissingOwnerIsCollected() async throws {
        try await EmbeddedCluster.with { cluster in
            let reference: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"]
            _ = try await cluster.client.create(configMaps, namespace: "default", EmbeddedCluster.configMap("default", "stray", owners: [reference]))
            let gone = try await eventually { try await !exists(cluster, "stray") }
            #expect(gone)
            await #expect(throws: StatusError.self) {
                try await cluster.client.delete(configMaps, namespace: "default", name: "x", propagationPolicy: "Sideways")
            }
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncAllSatisfy(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where try await !predicate(element) { return false }
        return true
    }
}
