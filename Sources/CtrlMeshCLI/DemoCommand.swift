import ArgumentParser
import Foundation
import KubeAPIServer
import KubeClient
import KubeModel
import MeshProxy

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the mesh on one machine: the embedded API server with seeded objects and two sharding proxies.")

    @Option(help: "Address for the embedded API server.")
    var listen = ListenAddress(host: "127.0.0.1", port: 0)

    @Option(help: "Where to write the kubeconfig.")
    var kubeconfigOut = FileManager.default.temporaryDirectory.appendingPathComponent("ctrlmesh-demo.kubeconfig").path

    @Option(help: "Persist the demo's objects under this directory.")
    var dataDir: String?

    func run() async throws {
        var config = EmbeddedAPIServer.Configuration()
        config.host = listen.host
        config.port = listen.port
        config.dataDirectory = dataDir
        let server = try await EmbeddedAPIServer.start(config)
        try server.writeKubeconfig(to: kubeconfigOut)
        let seeded = try seed(server.api)
        let directory = (kubeconfigOut as NSString).deletingLastPathComponent
        var shards: [(name: String, runtime: ProxyRuntime, spec: String, kubeconfig: String)] = []
        for (name, namespaces) in [("shard-a", ["team-a"]), ("shard-b", ["team-b", "team-c"])] {
            let spec = directory + "/ctrlmesh-demo-\(name).yaml"
            try DemoCommand.spec(shard: name, namespaces: namespaces, epoch: 1).write(toFile: spec, atomically: true, encoding: .utf8)
            let runtime = try await ProxyRuntime.start(.init(host: "127.0.0.1", port: 0, adminHost: "127.0.0.1", adminPort: 0, specFile: spec),
                                                       upstream: ClientConfig(server: server.url))
            let kubeconfig = directory + "/ctrlmesh-demo-\(name).kubeconfig"
            try runtime.operatorKubeconfig().write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            shards.append((name, runtime, spec, kubeconfig))
        }
        let background = shards.map { shard in Task { await shard.runtime.run() } }
        let a = shards[0]
        let b = shards[1]
        Console.line("""
            ctrlmesh demo: embedded API server ready on \(server.url)
              seeded \(seeded) objects in namespaces team-a, team-b, team-c
              kubeconfig: \(kubeconfigOut)
              shard-a proxy: http://127.0.0.1:\(a.runtime.port) owns configmaps in team-a (kubeconfig \(a.kubeconfig))
              shard-b proxy: http://127.0.0.1:\(b.runtime.port) owns configmaps in team-b, team-c (kubeconfig \(b.kubeconfig))

            Try it:
              kubectl --kubeconfig \(kubeconfigOut) get configmaps -A -l app.kubernetes.io/part-of=ctrlmesh-demo
              kubectl --kubeconfig \(a.kubeconfig) get configmaps -A       # shard-a sees team-a only
              kubectl --kubeconfig \(b.kubeconfig) get configmaps -A       # shard-b sees team-b and team-c
              kubectl --kubeconfig \(a.kubeconfig) delete configmap settings-1 -n team-b   # 403: not shard-a's
              kubectl --kubeconfig \(a.kubeconfig) get -w configmaps -A    # then, in another shell, reshard live:
              sed -i 's/epoch: 1/epoch: 2/; s/\\[team-a\\]/[team-a, team-b]/' \(a.spec)
              curl -s http://127.0.0.1:\(a.runtime.adminPort ?? 0)/status   # appliedEpoch 2; the watch got 410 and relists
              curl -s http://127.0.0.1:\(a.runtime.adminPort ?? 0)/metrics | grep ctrlmesh_proxy_

            The mesh manager and operator shards join this demo as they land.
            Press Ctrl-C to stop.
            """)
        await Signals.waitForTermination()
        background.forEach { $0.cancel() }
        for shard in shards { await shard.runtime.close() }
        await server.close()
    }

    static func spec(shard: String, namespaces: [String], epoch: Int) -> String {
        """
        shard: \(shard)
        epoch: \(epoch)
        resources:
        - {apiGroups: [""], resources: [configmaps], key: namespace}
        owned:
          namespaces: [\(namespaces.joined(separator: ", "))]
        leaderElection: {namespace: kube-system, name: demo-operator}

        """
    }

    /// A few namespaces, configmaps and a Lease, so there is something to look at.
    func seed(_ api: APIServer) throws -> Int {
        var count = 0
        for team in ["team-a", "team-b", "team-c"] {
            if (try? api.createObject(["apiVersion": "v1", "kind": "Namespace",
                                       "metadata": ["name": .string(team), "labels": ["ctrlmesh.kruise.io/demo": "true"]]])) != nil {
                count += 1
            }
            for i in 1...3 {
                let cm: JSON = ["apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": ["name": .string("settings-\(i)"), "namespace": .string(team),
                                             "labels": ["app.kubernetes.io/part-of": "ctrlmesh-demo", "team": .string(team)]],
                                "data": ["replicas": .string(String(i)), "owner": .string(team)]]
                if (try? api.createObject(cm)) != nil { count += 1 }
            }
        }
        let lease: JSON = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": ["name": "ctrlmesh-demo", "namespace": "kube-system"],
                           "spec": ["holderIdentity": "demo", "leaseDurationSeconds": 15]]
        if (try? api.createObject(lease)) != nil { count += 1 }
        return count
    }
}
