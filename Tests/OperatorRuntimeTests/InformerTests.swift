import KubeClient
import KubeModel
@testable import OperatorRuntime
import Testing

/// What a handler saw, replayed into a map: it must end equal to the server's state.
final class HandlerShadow: Sendable {
    let objects = Locked([String: String]())
    let duplicateAdds = Locked(0)

    func record(_ delta: CacheDelta) {
        objects.withLock { map in
            switch delta {
            case .added(let o):
                if map[o.key] != nil { duplicateAdds.withLock { $0 += 1 } }
                map[o.key] = o.resourceVersion
            case .updated(_, let o): map[o.key] = o.resourceVersion
            case .deleted(let o): map[o.key] = nil
            }
        }
    }
}

@Suite(.serialized) struct InformerTests {
    func serverState(_ client: RESTClient) async throws -> [String: String] {
        let list = try await client.list(EmbeddedCluster.configMaps)
        var state: [String: String] = [:]
        for item in list.items { state[CachedObject(item).key] = item.resourceVersion }
        return state
    }

    func cacheState(_ informer: Informer) -> [String: String] {
        var state: [String: String] = [:]
        for object in informer.cache.list() { state[object.key] = object.resourceVersion }
        return state
    }

    /// Eight writers create, update and delete 3,000 times across three namespaces while the
    /// informer watches; at the end its cache, its handlers' view and a fresh list agree.
    func churn(_ cluster: EmbeddedCluster, operations: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var generator = seeded(UInt64(writer + 1))
                    for step in 0..<(operations / 8) {
                        let namespace = "churn-\(Int.random(in: 0..<3, using: &generator))"
                        let name = "cm-\(writer)-\(Int.random(in: 0..<40, using: &generator))"
                        do {
                            switch Int.random(in: 0..<3, using: &generator) {
                            case 0:
                                _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: namespace,
                                                                    EmbeddedCluster.configMap(namespace, name))
                            case 1:
                                _ = try await cluster.client.patch(EmbeddedCluster.configMaps, namespace: namespace, name: name,
                                                                   type: .merge, ["data": ["v": .string("\(step)")]])
                            default:
                                try await cluster.client.delete(EmbeddedCluster.configMaps, namespace: namespace, name: name)
                            }
                        } catch let error as StatusError where error.reason == .notFound || error.reason == .alreadyExists {
                            // The random operation did not apply to the current state.
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func convergesUnderChurn() async throws {
        try await EmbeddedCluster.with { cluster in
            for i in 0..<3 { try await cluster.createNamespace("churn-\(i)") }
            let informer = Informer(client: cluster.client, resource: EmbeddedCluster.configMaps)
            let shadow = HandlerShadow()
            informer.addHandler(shadow.record)
            let running = Task { await informer.run() }
            await informer.waitForSync()
            try await churn(cluster, operations: 3_000)
            let truth = try await serverState(cluster.client)
            #expect(truth.count > 50, "the churn left objects behind")
            let converged = await eventually { cacheState(informer) == truth && shadow.objects.value == truth }
            #expect(converged)
            #expect(informer.cache.list(namespace: "churn-1").count == truth.keys.filter { $0.hasPrefix("churn-1/") }.count)
            #expect(shadow.duplicateAdds.value == 0)
            running.cancel()
        }
    }

    /// A watcher that falls behind gets `410 Expired`; the informer relists, and the relist's
    /// computed deletes and adds leave its handlers with exactly the server's state.
    @Test func relistsAfterExpiredAndComputesTheDifference() async throws {
        try await EmbeddedCluster.with(watcherBufferLimit: 2, historyLimit: 10) { cluster in
            try await cluster.createNamespace("churn-0")
            for i in 0..<30 {
                _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "churn-0",
                                                    EmbeddedCluster.configMap("churn-0", "seed-\(i)"))
            }
            let informer = Informer(client: cluster.client, resource: EmbeddedCluster.configMaps)
            let shadow = HandlerShadow()
            informer.addHandler(shadow.record)
            let running = Task { await informer.run() }
            await informer.waitForSync()
            #expect(informer.listCount == 1)
            // A burst far faster than one watcher's two-event buffer: its watch ends with 410.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<30 {
                    group.addTask {
                        try await cluster.client.delete(EmbeddedCluster.configMaps, namespace: "churn-0", name: "seed-\(i)")
                        _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "churn-0",
                                                            EmbeddedCluster.configMap("churn-0", "new-\(i)"))
                    }
                }
                try await group.waitForAll()
            }
            let truth = try await serverState(cluster.client)
            let converged = await eventually { cacheState(informer) == truth && shadow.objects.value == truth }
            #expect(converged)
            #expect(informer.listCount >= 2, "no relist happened")
            #expect(informer.cache.list().allSatisfy { $0.name.hasPrefix("new-") })
            running.cancel()
        }
    }

    @Test func ownerIndexFindsDependentsAndLateHandlersSeeTheCache() async throws {
        try await EmbeddedCluster.with { cluster in
            let owner = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default",
                                                        EmbeddedCluster.configMap("default", "owner"))
            let reference: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": .string(owner.uid ?? ""), "controller": true]
            for i in 0..<3 {
                _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default",
                                                    EmbeddedCluster.configMap("default", "child-\(i)", owners: [reference]))
            }
            let informer = Informer(client: cluster.client, resource: EmbeddedCluster.configMaps, namespace: "default")
            let running = Task { await informer.run() }
            await informer.waitForSync()
            #expect(Set(informer.cache.list(ownedBy: owner.uid ?? "").map(\.name)) == ["child-0", "child-1", "child-2"])
            #expect(informer.cache.get(namespace: "default", name: "child-1")?.controller?.name == "owner")
            let late = HandlerShadow()
            informer.addHandler(late.record)
            #expect(late.objects.value.count == 4)
            running.cancel()
        }
    }
}
