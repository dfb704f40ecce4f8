import KubeAPIServer
import KubeClient
import KubeModel

/// An in-process API server and a client for it.
struct EmbeddedCluster {
    let server: EmbeddedAPIServer
    let client: RESTClient

    static func start(watcherBufferLimit: Int = 200_000, historyLimit: Int = 20_000) async throws -> EmbeddedCluster {
        var configuration = EmbeddedAPIServer.Configuration()
        configuration.watcherBufferLimit = watcherBufferLimit
        configuration.historyLimit = historyLimit
        let server = try await EmbeddedAPIServer.start(configuration)
        return EmbeddedCluster(server: server, client: RESTClient(config: ClientConfig(server: server.url), qps: nil))
    }

    /// Runs `body` against a fresh cluster and stops the cluster however `body` ends.
    static func with(watcherBufferLimit: Int = 200_000, historyLimit: Int = 20_000,
                     _ body: (EmbeddedCluster) async throws -> Void) async throws {
        let cluster = try await start(watcherBufferLimit: watcherBufferLimit, historyLimit: historyLimit)
        do {
            try await body(cluster)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    func stop() async {
        await client.connection.shutdown()
        await server.close()
    }

    static let configMaps = GroupVersionResource(group: "", version: "v1", resource: "configmaps")
    static let namespaces = GroupVersionResource(group: "", version: "v1", resource: "namespaces")

    func createNamespace(_ name: String) async throws {
        _ = try await client.create(Self.namespaces, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]])
    }

    static func configMap(_ namespace: String, _ name: String, data: String = "0", owners: [JSON] = []) -> JSON {
        var json: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(namespace)],
                          "data": ["v": .string(data)]]
        if !owners.isEmpty { json.setMetadata("ownerReferences", .array(owners)) }
        return json
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}
