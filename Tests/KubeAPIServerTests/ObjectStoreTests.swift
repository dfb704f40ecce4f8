@testable import KubeAPIServer
import KubeModel
import Synchronization
import Testing

@Suite struct ObjectStoreTests {
    let cm = GroupResource(group: "", resource: "configmaps")

    func object(_ name: String, _ ns: String = "default") -> JSON {
        ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(ns)]]
    }

    /// The commit guard is called the same way on the 40,000th commit as on the first (a
    /// function kept as a lock's value once gained a thunk per access and overflowed the
    /// stack after about 17,000 commits).
    @Test func aCommitGuardStaysOneCallDeepOverManyCommits() throws {
        let store = try ObjectStore(historyLimit: 100)
        let calls = Mutex(0)
        store.guardCommits { _, _, _, _ in calls.withLock { $0 += 1 } }
        let key = ObjectKey(namespace: "default", name: "a")
        var stored = try store.commit(cm, key, .put(object("a")), precondition: .mustNotExist)
        for _ in 0..<40_000 {
            stored = try store.commit(cm, key, .put(object("a")), precondition: .resourceVersion(stored.resourceVersion))
        }
        #expect(calls.withLock { $0 } == 40_001)
    }

    @Test func oneCounterOrdersEveryWrite() throws {
        let store = try ObjectStore()
        let a = try store.commit(cm, ObjectKey(namespace: "default", name: "a"), .put(object("a")), precondition: .mustNotExist)
        let b = try store.commit(cm, ObjectKey(namespace: "default", name: "b"), .put(object("b")), precondition: .mustNotExist)
        #expect(a.resourceVersion == 1 && b.resourceVersion == 2)
        #expect(b.json.resourceVersion == "2")
        #expect(throws: StatusError.self) {
            try store.commit(cm, ObjectKey(namespace: "default", name: "a"), .put(object("a")), precondition: .mustNotExist)
        }
        #expect(throws: StoreConflict.self) {
            try store.commit(cm, ObjectKey(namespace: "default", name: "a"), .put(object("a")), precondition: .resourceVersion(7))
        }
        let deleted = try store.commit(cm, ObjectKey(namespace: "default", name: "a"), .delete, precondition: .resourceVersion(1))
        #expect(deleted.resourceVersion == 3)
        #expect(store.list(cm).items.map(\.name) == ["b"])
    }

    @Test func listsInKeyOrderByNamespaceAndAfterAKey() throws {
        let store = try ObjectStore()
        for (ns, name) in [("b", "2"), ("a", "9"), ("b", "1"), ("c", "0")] {
            try store.commit(cm, ObjectKey(namespace: ns, name: name), .put(object(name, ns)), precondition: .mustNotExist)
        }
        #expect(store.list(cm).items.map { "\($0.namespace)/\($0.name)" } == ["a/9", "b/1", "b/2", "c/0"])
        #expect(store.list(cm, namespace: "b").items.map(\.name) == ["1", "2"])
        #expect(store.page(cm, after: ObjectKey(namespace: "b", name: "1"), limit: nil) { _ in true }.items.map(\.name) == ["2", "0"])
    }

    @Test func aPageStopsAtItsLimitAndSaysWhetherMoreMatch() throws {
        let store = try ObjectStore()
        for (ns, name) in [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("b", "3"), ("c", "1")] {
            try store.commit(cm, ObjectKey(namespace: ns, name: name), .put(object(name, ns)), precondition: .mustNotExist)
        }
        var inspected = 0
        let first = store.page(cm, limit: 2) { _ in inspected += 1; return true }
        #expect(first.items.map { "\($0.namespace)/\($0.name)" } == ["a/1", "a/2"])
        #expect(first.more && first.remaining == 4)
        // It reads one object past the page (to know whether a continue token is due), no more.
        #expect(inspected == 3)

        let odd = store.page(cm, after: ObjectKey(namespace: "a", name: "2"), limit: 1) { $0.name != "2" }
        #expect(odd.items.map { "\($0.namespace)/\($0.name)" } == ["b/1"] && odd.more)
        let last = store.page(cm, after: ObjectKey(namespace: "b", name: "1"), limit: 1) { $0.name == "3" }
        #expect(last.items.map(\.name) == ["3"] && !last.more)

        let inB = store.page(cm, namespace: "b", after: ObjectKey(namespace: "b", name: "1"), limit: 1) { _ in true }
        #expect(inB.items.map(\.name) == ["2"] && inB.more && inB.remaining == 1)
        let empty = store.page(cm, namespace: "d", limit: 5) { _ in true }
        #expect(empty.items.isEmpty && !empty.more && empty.remaining == 0)
    }

    @Test func watchReplaysFromHistoryAndExpiresPastIt() async throws {
        let store = try ObjectStore(historyLimit: 3)
        for i in 1...5 {
            try store.commit(cm, ObjectKey(namespace: "default", name: "o\(i)"), .put(object("o\(i)")), precondition: .mustNotExist)
        }
        // History holds RVs 3, 4, 5: resuming from 2 replays 3...5; from 1 has missed RV 2.
        let resumed = try store.watch(cm, fromResourceVersion: 2)
        #expect(resumed.replay.map(\.resourceVersion) == [3, 4, 5])
        #expect(throws: StatusError.self) { try store.watch(cm, fromResourceVersion: 1) }

        try store.commit(cm, ObjectKey(namespace: "default", name: "o6"), .put(object("o6")), precondition: .mustNotExist)
        let batch = await resumed.subscription.next()
        guard case .event(let event)? = batch?.first else { Issue.record("no live event"); return }
        #expect(event.resourceVersion == 6 && event.type == .added)
        resumed.subscription.cancel()
        #expect(store.watcherCount == 0)
    }

    /// Random interleavings of creates and deletes: resourceVersions strictly increase and a
    /// watcher sees every event exactly once, in order.
    @Test func watchersSeeEveryEventInOrder() async throws {
        let store = try ObjectStore(historyLimit: 1000)
        let watch = try store.watch(cm, fromResourceVersion: 0)
        var expected: [UInt64] = []
        var live = Set<String>()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let name = "k\(Int.random(in: 0..<20, using: &generator))"
            let key = ObjectKey(namespace: "default", name: name)
            if live.contains(name) {
                let current = store.get(cm, key)!
                expected.append(try store.commit(cm, key, .delete, precondition: .resourceVersion(current.resourceVersion)).resourceVersion)
                live.remove(name)
            } else {
                expected.append(try store.commit(cm, key, .put(object(name)), precondition: .mustNotExist).resourceVersion)
                live.insert(name)
            }
        }
        var seen: [UInt64] = []
        while seen.count < expected.count, let batch = await watch.subscription.next() {
            for case .event(let e) in batch { seen.append(e.resourceVersion) }
        }
        #expect(seen == expected)
        #expect(expected == expected.sorted() && Set(expected).count == expected.count)
    }

    @Test func slowWatcherOverflowsInsteadOfGrowing() throws {
        let store = try ObjectStore(watcherBufferLimit: 2)
        let watch = try store.watch(cm, fromResourceVersion: nil)
        for i in 0..<3 {
            try store.commit(cm, ObjectKey(namespace: "default", name: "o\(i)"), .put(object("o\(i)")), precondition: .mustNotExist)
        }
        #expect(watch.subscription.overflowed)
        #expect(store.watcherCount == 0)
    }
}
