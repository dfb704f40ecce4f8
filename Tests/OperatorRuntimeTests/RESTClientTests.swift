@testable import KubeClient
import KubeModel
@testable import OperatorRuntime
import Testing

/// The dynamic client against the embedded API server: errors a caller can switch on, every
/// verb, the status subresource, selectors that need escaping, and watch streams.
@Suite struct RESTClientTests {
    let configMaps = EmbeddedCluster.configMaps

    @Test func errorsCarryTheServersReason() async throws {
        try await EmbeddedCluster.with { cluster in
            let client = cluster.client
            var created = try await client.create(configMaps, namespace: "default", EmbeddedCluster.configMap("default", "a"))
            await #expect(throws: StatusError(code: 409, reason: .alreadyExists, message: "configmaps \"a\" already exists",
                                              name: "a", kind: "configmaps")) {
                try await client.create(configMaps, namespace: "default", EmbeddedCluster.configMap("default", "a"))
            }
            do {
                _ = try await client.get(configMaps, namespace: "default", name: "missing")
                Issue.record("expected NotFound")
            } catch let error as StatusError {
                #expect(error.reason == .notFound && error.code == 404 && error.name == "missing")
            }
            created["data"] = ["v": "1"]
            let updated = try await client.update(configMaps, created)
            #expect(updated.resourceVersion != created.resourceVersion)
            do {
                _ = try await client.update(configMaps, created)  // the resourceVersion it read is stale now
                Issue.record("expected Conflict")
            } catch let error as StatusError {
                #expect(error.reason == .conflict)
            }
            let failedTest: JSON = [["op": "test", "path": "/data/v", "value": "nope"]]
            do {
                _ = try await client.patch(configMaps, namespace: "default", name: "a", type: .json, failedTest)
                Issue.record("expected Invalid")
            } catch let error as StatusError {
                #expect(error.code == 422)
            }
        }
    }

    @Test func patchesStatusAndDeletesPinnedToAUid() async throws {
        try await EmbeddedCluster.with { cluster in
            let client = cluster.client
            let pods = GroupVersionResource(group: "", version: "v1", resource: "pods")
            let pod: JSON = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "p", "namespace": "default", "labels": ["tier": "a"]],
                             "spec": ["containers": [["name": "c", "image": "i:1"]]]]
            let created = try await client.create(pods, namespace: "default", pod)
            let strategic: JSON = ["spec": ["containers": [["name": "c", "image": "i:2"]]]]
            let patched = try await client.patch(pods, namespace: "default", name: "p", type: .strategic, strategic)
            #expect(patched["spec"]?["containers"]?.arrayValue?.first?["image"] == "i:2")
            let withStatus = try await client.patch(pods, namespace: "default", name: "p", type: .merge, ["status": ["phase": "Running"]],
                                                    subresource: "status")
            #expect(withStatus["status"]?["phase"] == "Running")
            // A set expression with spaces and a negation survives the query encoding.
            let selected = try await client.list(pods, namespace: "default", options: .init(labelSelector: "tier in (a, c), !absent"))
            #expect(selected.items.map(\.name) == ["p"])
            await #expect(throws: StatusError.self) {
                try await client.delete(pods, namespace: "default", name: "p", uid: "another-incarnation")
            }
            try await client.delete(pods, namespace: "default", name: "p", uid: created.uid)
            #expect(try await client.list(pods, namespace: "default").items.isEmpty)
        }
    }

    @Test func watchStreamsEventsAndEndsAtItsTimeout() async throws {
        try await EmbeddedCluster.with { cluster in
            let client = cluster.client
            let start = try await client.list(configMaps, namespace: "default")
            let watch = try await client.watch(configMaps, namespace: "default", options: .init(resourceVersion: start.resourceVersion),
                                               timeoutSeconds: 1)
            _ = try await client.create(configMaps, namespace: "default", EmbeddedCluster.configMap("default", "w"))
            try await client.delete(configMaps, namespace: "default", name: "w")
            var kinds: [WatchEvent.Kind] = []
            for try await event in watch where event.kind != .bookmark { kinds.append(event.kind) }
            #expect(kinds == [.added, .deleted], "the stream ended after timeoutSeconds with both events")
        }
    }
}

@Suite struct WatchDecodingTests {
    @Test func linesSplitAcrossChunksAndErrorsBecomeStatusErrors() throws {
        var lines = LineSplitter()
        let text = #"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"# + "\n\n" + #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"# + "\n"
        let bytes = Array(text.utf8)
        var events: [WatchEvent] = []
        for chunk in stride(from: 0, to: bytes.count, by: 7).map({ bytes[$0..<min($0 + 7, bytes.count)] }) {
            lines.append(chunk)
            while let line = lines.nextLine() { events.append(try WatchEvent.decode(line)) }
        }
        #expect(lines.remainder() == nil)
        #expect(events.map(\.kind) == [.added, .bookmark])
        #expect(events[1].object.resourceVersion == "9")
        let expired = StatusError.expired("too old resource version: 5 (10)").watchErrorEvent
        #expect(throws: StatusError.expired("too old resource version: 5 (10)")) { try WatchEvent.decode(expired.dropLast()[...]) }
        #expect(throws: WatchEvent.MalformedEvent.self) { try WatchEvent.decode(Array(#"{"type":"SOMETHING","object":{}}"#.utf8)[...]) }
    }

    @Test func pathsEscapeNamesAndQueries() {
        var path = ResourcePath(GroupVersionResource(group: "apps.kruise.io", version: "v1alpha1", resource: "clonesets"),
                                namespace: "team-a", name: "web", subresource: "status")
        path.add("labelSelector", "app in (a,b),!x")
        path.add("empty", "")
        #expect(path.target == "/apis/apps.kruise.io/v1alpha1/namespaces/team-a/clonesets/web/status?labelSelector=app%20in%20%28a%2Cb%29%2C%21x")
        #expect(ResourcePath(GroupVersionResource(group: "", version: "v1", resource: "namespaces")).target == "/api/v1/namespaces")
    }
}

@Suite struct ResyncTests {
    @Test func resyncRedeliversEveryCachedObject() async throws {
        try await EmbeddedCluster.with { cluster in
            for i in 0..<3 {
                _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default",
                                                    EmbeddedCluster.configMap("default", "r\(i)"))
            }
            let informer = Informer(client: cluster.client, resource: EmbeddedCluster.configMaps, namespace: "default",
                                    resyncPeriod: .milliseconds(200))
            let updates = Locked([String: Int]())
            informer.addHandler { delta in
                if case .updated(let old, let new) = delta, old === new { updates.withLock { $0[new.name, default: 0] += 1 } }
            }
            let running = Task { await informer.run() }
            #expect(await eventually { updates.value.count == 3 && updates.value.values.allSatisfy { $0 >= 2 } })
            running.cancel()
        }
    }
}
