import ArgumentParser
import Foundation
import KubeAPIServer
import KubeModel

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the mesh on one machine on the embedded API server (for now: the API server with seeded objects).")

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
        Console.line("""
            ctrlmesh demo: embedded API server ready on \(server.url)
              seeded \(seeded) objects in namespaces team-a, team-b, team-c
              kubeconfig: \(kubeconfigOut)

            Try it:
              export KUBECONFIG=\(kubeconfigOut)
              kubectl get namespaces
              kubectl get configmaps -A -l app.kubernetes.io/part-of=ctrlmesh-demo
              kubectl get leases -n kube-system
              kubectl get -w configmaps -n team-a      # then change one from another shell

            The sharding proxy, mesh manager and operator shards join this demo as they land.
            Press Ctrl-C to stop.
            """)
        await Signals.waitForTermination()
        await server.close()
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
