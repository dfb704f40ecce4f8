import ArgumentParser
import Foundation
import KubeAPIServer
import KubeClient
import KubeModel
import Logging
import MeshProxy
import OperatorRuntime
import SampleOperator

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the mesh on one machine: the embedded API server, two sharding proxies, and the sample CloneSet operator as one shard behind each.")

    @Option(help: "Address for the embedded API server.")
    var listen = ListenAddress(host: "127.0.0.1", port: 0)

    @Option(help: "Where to write the kubeconfig.")
    var kubeconfigOut = FileManager.default.temporaryDirectory.appendingPathComponent("ctrlmesh-demo.kubeconfig").path

    @Option(help: "Persist the demo's objects under this directory.")
    var dataDir: String?

    @Option(help: "CloneSets to create in each of the three team namespaces.")
    var clonesetsPerNamespace = 2

    @Flag(help: "Log what the proxies and operators do (leader elections, spec changes, retries).")
    var verbose = false

    func run() async throws {
        // The demo's own lines tell the story; component logs only when asked for.
        let level: Logger.Level = verbose ? .info : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
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

        // The operator, unchanged, once behind each proxy; a node simulator reports pods ready.
        let nodeManager = Manager(client: RESTClient(config: ClientConfig(server: server.url), qps: nil))
        _ = NodeSimulator(manager: nodeManager)
        var managers = [nodeManager]
        for shard in shards {
            var election = LeaderElector.Configuration(namespace: "default", name: "ctrlmesh-sample-operator", identity: "\(shard.name)-0")
            election.retryPeriod = .seconds(1)
            let manager = Manager(client: RESTClient(config: ClientConfig(server: "http://127.0.0.1:\(shard.runtime.port)")),
                                  options: .init(leaderElection: election))
            _ = CloneSetController(manager: manager, identity: "\(shard.name)-0", workers: 4)
            managers.append(manager)
        }
        let operators = managers.map { manager in Task { try await manager.run() } }
        let clonesets = try seedCloneSets(server.api)
        Console.line("ctrlmesh demo: seeded \(seeded) objects and \(clonesets.count) CloneSets in team-a, team-b, team-c; waiting for the shards to reconcile them")
        let rows = try await waitForCloneSets(server, names: clonesets)

        Console.line("""

            ctrlmesh demo: embedded API server ready on \(server.url)
              kubeconfig: \(kubeconfigOut)
              shard-a proxy: http://127.0.0.1:\(a.runtime.port) owns team-a (kubeconfig \(a.kubeconfig))
              shard-b proxy: http://127.0.0.1:\(b.runtime.port) owns team-b, team-c (kubeconfig \(b.kubeconfig))
              the sample CloneSet operator runs once behind each proxy, leader of its shard's renamed Lease

            \(rows)

            Try it:
              kubectl --kubeconfig \(kubeconfigOut) get clonesets -A          # every CloneSet, with its pods' status
              kubectl --kubeconfig \(kubeconfigOut) get leases -n default     # ctrlmesh-sample-operator---shard-a and ---shard-b
              kubectl --kubeconfig \(a.kubeconfig) get clonesets -A          # shard-a sees team-a only
              kubectl --kubeconfig \(a.kubeconfig) delete cloneset app-1 -n team-b   # 403: not shard-a's
              kubectl --kubeconfig \(kubeconfigOut) scale cloneset app-1 -n team-c --replicas 5   # shard-b's operator adds pods
              kubectl --kubeconfig \(kubeconfigOut) get clonesets -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,BY:.metadata.annotations.sample\\.ctrlmesh\\.io/reconciled-by
            Move team-c to shard-a live (revoke first, then grant; no restart, no relabelling):
              sed -i 's/epoch: 1/epoch: 2/; s/\\[team-b, team-c\\]/[team-b]/' \(b.spec)
              sed -i 's/epoch: 1/epoch: 2/; s/\\[team-a\\]/[team-a, team-c]/' \(a.spec)
              kubectl --kubeconfig \(kubeconfigOut) scale cloneset app-1 -n team-c --replicas 2   # now shard-a's operator does it
              curl -s http://127.0.0.1:\(a.runtime.adminPort ?? 0)/metrics | grep ctrlmesh_proxy_

            The mesh manager (automatic assignment and handover) joins this demo when it lands.
            Press Ctrl-C to stop.
            """)
        await Signals.waitForTermination()
        for manager in managers { manager.stop() }
        for task in operators { _ = await task.result }
        for manager in managers { await manager.client.connection.shutdown() }
        background.forEach { $0.cancel() }
        for shard in shards { await shard.runtime.close() }
        await server.close()
    }

    static func spec(shard: String, namespaces: [String], epoch: Int) -> String {
        """
        shard: \(shard)
        epoch: \(epoch)
        resources:
        - {apiGroups: [""], resources: [configmaps, pods], key: namespace}
        - {apiGroups: [apps.kruise.io], resources: [clonesets], key: namespace}
        owned:
          namespaces: [\(namespaces.joined(separator: ", "))]
        leaderElection: {resource: leases, namespace: default, name: ctrlmesh-sample-operator}

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

    /// Installs the CloneSet CRD and creates the demo's CloneSets; returns namespace/name of each.
    func seedCloneSets(_ api: APIServer) throws -> [(namespace: String, name: String)] {
        if (try? api.createObject(try YAMLDocument.parse(CloneSetCRD.yaml))) == nil {
            Console.line("ctrlmesh demo: the CloneSet CRD already exists (kept from --data-dir)")
        }
        var names: [(String, String)] = []
        for team in ["team-a", "team-b", "team-c"] {
            for i in 1...max(1, clonesetsPerNamespace) {
                let name = "app-\(i)"
                let cloneSet: JSON = [
                    "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                    "metadata": ["name": .string(name), "namespace": .string(team)],
                    "spec": ["replicas": .int(i + 1), "selector": ["matchLabels": ["app": .string(name)]],
                             "template": ["metadata": ["labels": ["app": .string(name)]],
                                          "spec": ["containers": [["name": "main", "image": "nginx:1.27"]]]],
                             "updateStrategy": ["type": "InPlaceIfPossible", "maxUnavailable": 1]],
                ]
                _ = try? api.createObject(cloneSet)
                names.append((team, name))
            }
        }
        return names
    }

    /// Waits until every CloneSet reports all its pods ready, printing progress, and returns a
    /// table of who reconciled what.
    func waitForCloneSets(_ server: EmbeddedAPIServer, names: [(namespace: String, name: String)]) async throws -> String {
        let resource = GroupResource(group: "apps.kruise.io", resource: "clonesets")
        let clock = ContinuousClock()
        let start = clock.now
        var lastReady = -1
        while true {
            let objects = names.compactMap { server.api.store.get(resource, ObjectKey(namespace: $0.namespace, name: $0.name))?.json }
            let ready = objects.filter { $0["status"]?["readyReplicas"]?.intValue == $0["spec"]?["replicas"]?.intValue
                && $0.annotations[CloneSetController.reconciledByAnnotation] != nil }
            if ready.count != lastReady {
                Console.line("  \(ready.count)/\(names.count) CloneSets ready after \(start.duration(to: clock.now).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
                lastReady = ready.count
            }
            if ready.count == names.count {
                var table = "NAMESPACE  CLONESET  READY  RECONCILED-BY"
                for object in objects {
                    let replicas = object["status"]?["readyReplicas"]?.intValue ?? 0
                    table += "\n" + (object.namespace ?? "").padding(toLength: 11, withPad: " ", startingAt: 0)
                        + (object.name ?? "").padding(toLength: 10, withPad: " ", startingAt: 0)
                        + "\(replicas)/\(object["spec"]?["replicas"]?.intValue ?? 0)".padding(toLength: 7, withPad: " ", startingAt: 0)
                        + (object.annotations[CloneSetController.reconciledByAnnotation] ?? "")
                }
                return table
            }
            if start.duration(to: clock.now) > .seconds(60) {
                throw ValidationError("the CloneSets were not all ready within 60 s (\(ready.count)/\(names.count))")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
