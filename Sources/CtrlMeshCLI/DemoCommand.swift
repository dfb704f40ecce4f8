import ArgumentParser
import Foundation
import KubeAPIServer
import KubeClient
import KubeModel
import KubeYAML
import Logging
import MeshCore
import MeshManager
import MeshProxy
import OperatorRuntime
import SampleOperator

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole mesh on one machine: the embedded API server, the mesh manager, and the sample CloneSet operator as sharded pods behind their proxies.",
        discussion: """
            Seeds CloneSets across namespaces, waits until every one is ready, adds a shard and removes it again \
            while CloneSets change, rolls a canary operator pod out to 10% then 50% of the slots, then audits the \
            run: exit status 0 when no key was ever written by two shards at overlapping epochs and every CloneSet \
            was last reconciled by its owner, 1 otherwise.
            """)

    @Option(help: "Operator shards to start with.")
    var shards = 3

    @Option(help: "Operator pods per shard (one leads, the others stand by).")
    var replicasPerShard = 2

    @Option(help: "Namespaces to spread the CloneSets over.")
    var namespaces = 30

    @Option(help: "CloneSets to create.")
    var clonesets = 300

    @Flag(help: "Leave the mesh running after the audit, for exploring with kubectl.")
    var keepRunning = false

    @Option(help: "Address for the embedded API server.")
    var listen = ListenAddress(host: "127.0.0.1", port: 0)

    @Option(help: "Where to write the kubeconfig.")
    var kubeconfigOut = FileManager.default.temporaryDirectory.appendingPathComponent("ctrlmesh-demo.kubeconfig").path

    @Flag(help: "Log what the manager, proxies and operators do.")
    var verbose = false

    /// The demo's ShardingConfig, in `DemoMembers.namespace`.
    static let configName = "cloneset-operator"

    func validate() throws {
        if shards < 1 || shards > 16 { throw ValidationError("--shards must be from 1 to 16") }
        if replicasPerShard < 1 || replicasPerShard > 4 { throw ValidationError("--replicas-per-shard must be from 1 to 4") }
        if namespaces < 1 || namespaces > 500 { throw ValidationError("--namespaces must be from 1 to 500") }
        if clonesets < 1 || clonesets > 5000 { throw ValidationError("--clonesets must be from 1 to 5000") }
    }

    func run() async throws {
        let level: Logger.Level = verbose ? .info : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var serverConfig = EmbeddedAPIServer.Configuration()
        serverConfig.host = listen.host
        serverConfig.port = listen.port
        serverConfig.options.writeFence = StoredGrantFences().judge
        let server = try await EmbeddedAPIServer.start(serverConfig)
        try server.writeKubeconfig(to: kubeconfigOut)
        let client = RESTClient(config: ClientConfig(server: server.url), qps: nil)
        let passed: Bool
        do {
            passed = try await demo(server, client)
        } catch {
            await client.connection.shutdown()
            await server.close()
            throw error
        }
        await client.connection.shutdown()
        await server.close()
        if !passed { throw ExitCode(1) }
    }

    func demo(_ server: EmbeddedAPIServer, _ client: RESTClient) async throws -> Bool {
        let started = ContinuousClock.now
        for name in [DemoMembers.namespace] + (1...namespaces).map(DemoCommand.namespaceName) {
            _ = try? server.api.createObject(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]])
        }
        _ = try? server.api.createObject(try YAMLDocument.parse(CloneSetCRD.yaml))
        _ = try? server.api.createObject(try YAMLDocument.parse(ShardingConfigCRD.yaml))
        _ = try? server.api.createObject(try YAMLDocument.parse(PolicyCRDs.faultInjection))
        _ = try? server.api.createObject(try YAMLDocument.parse(PolicyCRDs.circuitBreaker))

        // The manager, with its webhooks registered: ShardingConfigs are validated, and the
        // operator pods get the proxy sidecar in their spec (here the proxies run in-process).
        var options = ManagerRuntime.Options(grpcHost: "127.0.0.1", grpcPort: 0, webhookHost: "127.0.0.1", webhookPort: 0,
                                             identity: "ctrlmesh-manager-0", namespace: DemoMembers.namespace)
        options.injection = SidecarInjection(image: "ctrlmesh:dev", managers: "ctrlmesh-manager.ctrlmesh-system.svc:5450")
        options.memberSkew = .seconds(1)
        options.registerWebhooks = true
        let manager = try await ManagerRuntime.start(options, upstream: ClientConfig(server: server.url))
        let managerTask = Task { await manager.run() }
        _ = try await client.create(MeshConfig.resource, namespace: DemoMembers.namespace, DemoCommand.shardingConfig(replicasPerShard))
        let members = try DemoMembers(client: client, serverURL: server.url, managerPort: manager.grpcPort,
                                      managerCA: manager.webhookCertificates?.caBundlePEM ?? "",
                                  lease: MemberLease.Timings(duration: .seconds(6), renewDeadline: .seconds(4), retryPeriod: .seconds(1)))
        let nodes = Manager(client: RESTClient(config: ClientConfig(server: server.url), qps: nil))
        _ = NodeSimulator(manager: nodes)
        let nodesTask = Task { try await nodes.run() }
        defer { nodesTask.cancel() }

        Console.line("ctrlmesh demo: API server on \(server.url), mesh manager on 127.0.0.1:\(manager.grpcPort); starting \(shards) shards × \(replicasPerShard) operator pods")
        try await members.createServiceAccount()
        for ordinal in 0..<(shards * replicasPerShard) { try await members.start(ordinal) }
        try await waitForMesh(client, shards: shards)

        let names = try await seed(client)
        Console.line("ctrlmesh demo: created \(names.count) CloneSets in \(namespaces) namespaces; the shards reconcile them")
        try await waitForCloneSets(client, names: names, timeout: .seconds(Int64(120 + clonesets / 5)))

        // Scale out by one shard, then back in, while CloneSets change size.
        let scaleOut = (shards * replicasPerShard)..<((shards + 1) * replicasPerShard)
        Console.line("ctrlmesh demo: scaling out to \(shards + 1) shards (starting \(scaleOut.map(DemoMembers.podName).joined(separator: ", ")))")
        let churn = Task { try await self.churn(client, names: names) }
        for ordinal in scaleOut { try await members.start(ordinal) }
        try await waitForMesh(client, shards: shards + 1)
        try await waitForOwners(client)
        Console.line("ctrlmesh demo: scaling back in to \(shards) shards (stopping \(scaleOut.map(DemoMembers.podName).joined(separator: ", ")))")
        for ordinal in scaleOut { await members.stop(ordinal) }
        try await waitForMesh(client, shards: shards)
        churn.cancel()
        _ = await churn.result
        try await waitForCloneSets(client, names: names, timeout: .seconds(Int64(120 + clonesets / 5)))
        try await waitForOwners(client)

        // A canary of a new operator version: one pod labelled version=v2, given 10% of the
        // slots, then 50%, by the same handovers, while CloneSets keep changing.
        Console.line("ctrlmesh demo: rolling out a canary (starting \(DemoCommand.canaryPod), version v2): 10%, then 50% of the slots")
        _ = try await client.patch(MeshConfig.resource, namespace: DemoMembers.namespace, name: DemoCommand.configName, type: .merge,
                                   ["spec": ["canary": DemoCommand.canary]])
        let canaryChurn = Task { try await self.churn(client, names: names) }
        try await members.start(DemoCommand.canaryOrdinal, pod: DemoCommand.canaryPod, labels: ["version": "v2"])
        try await waitForRollout(client)
        canaryChurn.cancel()
        _ = await canaryChurn.result
        try await waitForMesh(client, shards: shards + 1)
        try await waitForCloneSets(client, names: names, timeout: .seconds(Int64(120 + clonesets / 5)))
        try await waitForOwners(client)

        let config = try await client.get(MeshConfig.resource, namespace: DemoMembers.namespace, name: DemoCommand.configName)
        let cloneSets = try await client.list(CloneSetController.cloneSets).items
        let audit = DemoAudit(writes: server.api.writeAudit.all, config: config, cloneSets: cloneSets)
        var perShard: [String: Int] = [:]
        var shardOfPod: [String: String] = [:]
        for shard in config["status"]?["shards"]?.arrayValue ?? [] {
            for member in shard["members"]?.arrayValue ?? [] {
                shardOfPod[member["pod"]?.stringValue ?? ""] = shard["name"]?.stringValue
            }
        }
        for cloneSet in cloneSets {
            if let shard = shardOfPod[cloneSet.annotations[CloneSetController.reconciledByAnnotation] ?? ""] { perShard[shard, default: 0] += 1 }
        }
        let elapsed = started.duration(to: .now)
        Console.line("""

            \(MeshTable.render(config, extra: ("CLONESETS", { String(perShard[$0] ?? 0) })))

            \(audit.summary)
            ctrlmesh demo: \(audit.passed ? "PASSED" : "FAILED") in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))
            """)

        if keepRunning {
            Console.line("""

                The mesh keeps running. Try it:
                  ctrlmesh status --kubeconfig \(kubeconfigOut)
                  ctrlmesh rollout status \(DemoCommand.configName) -n \(DemoMembers.namespace) --kubeconfig \(kubeconfigOut)   # the canary
                  kubectl --kubeconfig \(kubeconfigOut) get shardingconfigs -A
                  kubectl --kubeconfig \(kubeconfigOut) get leases -n \(DemoMembers.namespace)      # member leases and each shard's renamed lock
                  kubectl --kubeconfig \(kubeconfigOut) get pod \(DemoMembers.podName(0)) -n \(DemoMembers.namespace) -o yaml   # the injected proxy sidecar
                  kubectl --kubeconfig \(kubeconfigOut) get clonesets -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,BY:.metadata.annotations.sample\\.ctrlmesh\\.io/reconciled-by
                  curl -s \(server.url)/debug/ctrlmesh/writes | head -c 600                  # the audit record
                Press Ctrl-C to stop.
                """)
            await Signals.waitForTermination()
        }
        await members.stopAll()
        managerTask.cancel()
        _ = await managerTask.value
        await manager.close()
        nodes.stop()
        _ = await nodesTask.result
        await nodes.client.connection.shutdown()
        return audit.passed
    }

    static func namespaceName(_ index: Int) -> String { String(format: "demo-%02d", index) }

    static let canaryPod = "\(DemoMembers.appLabel)-v2-0"
    /// Where the canary is kept among the members: past any ordinal the demo starts.
    static let canaryOrdinal = 1000
    static let canary: JSON = [
        "selector": ["matchLabels": ["version": "v2"]],
        "steps": [["percent": 10], ["percent": 50]],
        "pause": "2s",
        "analysis": ["maxErrorPercent": 20, "minRequests": 20, "window": "30s"],
    ]

    static func shardingConfig(_ replicasPerShard: Int) -> JSON {
        [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
            "metadata": ["name": .string(configName), "namespace": .string(DemoMembers.namespace)],
            "spec": [
                "selector": ["matchLabels": ["app": .string(DemoMembers.appLabel)]],
                "resources": [["apiGroups": ["apps.kruise.io"], "resources": ["clonesets"]], ["apiGroups": [""], "resources": ["pods"]]],
                "sharding": ["mode": "ObjectHash", "replicasPerShard": .int(replicasPerShard), "slots": 256],
                "leaderElection": ["namespace": .string(DemoMembers.namespace), "name": .string(DemoMembers.lockName)],
            ],
        ]
    }

    /// CloneSets spread round-robin over the namespaces, 1 to 3 replicas each.
    func seed(_ client: RESTClient) async throws -> [(namespace: String, name: String)] {
        var names: [(String, String)] = []
        for i in 0..<clonesets {
            let namespace = DemoCommand.namespaceName(i % namespaces + 1)
            let name = String(format: "app-%03d", i / namespaces + 1)
            let cloneSet: JSON = [
                "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
                "metadata": ["name": .string(name), "namespace": .string(namespace)],
                "spec": ["replicas": .int(i % 3 + 1), "selector": ["matchLabels": ["app": .string(name)]],
                         "template": ["metadata": ["labels": ["app": .string(name)]],
                                      "spec": ["containers": [["name": "main", "image": "nginx:1.27"]]]],
                         "updateStrategy": ["type": "InPlaceIfPossible", "maxUnavailable": 1]],
            ]
            do {
                _ = try await client.create(CloneSetController.cloneSets, namespace: namespace, cloneSet)
            } catch let error as StatusError where error.reason == .alreadyExists {}
            names.append((namespace, name))
        }
        return names
    }

    /// Changes the size of a tenth of the CloneSets every half second while shards come and go.
    func churn(_ client: RESTClient, names: [(namespace: String, name: String)]) async throws {
        var round = 0
        while !Task.isCancelled {
            for (index, name) in names.enumerated() where index % 10 == round % 10 {
                let patch: JSON = ["spec": ["replicas": .int((index + round) % 4 + 1)]]
                _ = try await client.patch(CloneSetController.cloneSets, namespace: name.namespace, name: name.name, type: .merge, patch)
            }
            round += 1
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Waits until every CloneSet was last reconciled by a member of the shard owning it now:
    /// the shards that gained keys have taken them up.
    func waitForOwners(_ client: RESTClient) async throws {
        try await DemoCommand.poll(timeout: .seconds(60), every: .milliseconds(300), failure: "the CloneSets were not all taken up by their owning shard") {
            let config = try await client.get(MeshConfig.resource, namespace: DemoMembers.namespace, name: DemoCommand.configName)
            let cloneSets = try await client.list(CloneSetController.cloneSets).items
            let behind = DemoAudit.misowned(config: config, cloneSets: cloneSets).count
            return ("  \(cloneSets.count - behind)/\(cloneSets.count) CloneSets reconciled by their owning shard", behind == 0)
        }
    }

    /// Waits until the ShardingConfig reports `shards` shards owning slots and Ready (every
    /// slot with its target shard, every member acknowledged), showing progress.
    func waitForMesh(_ client: RESTClient, shards expected: Int) async throws {
        try await DemoCommand.poll(timeout: .seconds(60), every: .milliseconds(200), failure: "the mesh did not converge on \(expected) shards") {
            let config = try? await client.get(MeshConfig.resource, namespace: DemoMembers.namespace, name: DemoCommand.configName)
            let status = config?["status"] ?? .null
            let ready = (status["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }?["status"]?.stringValue == "True"
            let shards = (status["shards"]?.arrayValue ?? []).filter { !($0["slots"]?.stringValue ?? "").isEmpty }.count
            return ("  mesh: \(shards) shards own slots, epoch \(status["epoch"]?.intValue ?? 0), \(ready ? "converged" : "converging")",
                    ready && shards == expected)
        }
    }

    /// Waits until the canary rollout completes, showing each step; fails when it rolls back.
    func waitForRollout(_ client: RESTClient) async throws {
        try await DemoCommand.poll(timeout: .seconds(90), every: .milliseconds(200), failure: "the canary rollout did not complete") {
            let config = try await client.get(MeshConfig.resource, namespace: DemoMembers.namespace, name: DemoCommand.configName)
            let rollout = config["status"]?["rollout"] ?? .null
            guard let phase = rollout["phase"]?.stringValue else { return ("  rollout: not started yet", false) }
            if phase == CanaryRollout.Phase.rolledBack.rawValue || phase == CanaryRollout.Phase.aborted.rawValue {
                throw ValidationError("the canary rollout ended \(phase): \(rollout["message"]?.stringValue ?? "")")
            }
            let owned = rollout["ownedSlots"]?.intValue ?? 0
            return ("  rollout: \(phase), \(rollout["message"]?.stringValue ?? ""); the canary owns \(owned) slots",
                    phase == CanaryRollout.Phase.completed.rawValue)
        }
    }

    /// Waits until every CloneSet has all its pods ready, printing progress.
    func waitForCloneSets(_ client: RESTClient, names: [(namespace: String, name: String)], timeout: Duration) async throws {
        try await DemoCommand.poll(timeout: timeout, every: .milliseconds(300), failure: "the CloneSets were not all ready") {
            let objects = try await client.list(CloneSetController.cloneSets).items
            let ready = objects.filter {
                $0["status"]?["readyReplicas"]?.intValue == $0["spec"]?["replicas"]?.intValue
                    && $0["status"]?["observedGeneration"]?.intValue == $0["metadata"]?["generation"]?.intValue
            }.count
            return ("  \(ready)/\(names.count) CloneSets ready", ready >= names.count)
        }
    }

    /// Polls `check` until it says done, printing its progress line (with the time since the
    /// start) whenever the line changes; after `timeout`, fails naming the last progress.
    static func poll(timeout: Duration, every interval: Duration, failure: String,
                     _ check: () async throws -> (progress: String, done: Bool)) async throws {
        let start = ContinuousClock.now
        var last: String?
        while true {
            let (progress, done) = try await check()
            if progress != last {
                Console.line(progress + " after \(seconds(start.duration(to: .now)))")
                last = progress
            }
            if done { return }
            if start.duration(to: .now) > timeout {
                throw ValidationError("\(failure) within \(seconds(timeout)) (\(progress.trimmingCharacters(in: .whitespaces)))")
            }
            try await Task.sleep(for: interval)
        }
    }

    static func seconds(_ duration: Duration) -> String {
        duration.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))
    }
}
