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

/// Handover latency: a shard joins or leaves a mesh sharding `--objects` ConfigMaps by object
/// hash, and the clock runs from the scale event (the new member starting, or the leaving one
/// being told to stop) until every object is in exactly one member's informer again. Everything
/// runs in this process: the embedded API server, the manager, and one proxy per member with an
/// informer behind it. Also reported: the manager's own per-slot handover times (grant
/// acknowledged), and how many objects two informers held at the same moment while a handover
/// was in flight (the old owner's cache empties only when its relist completes; its proxy has
/// already fenced those keys) and after it settled (must be 0).
struct HandoverBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "handover",
                                                    abstract: "Handover latency of the mesh with many objects.")

    @Option(help: "ConfigMaps to shard.")
    var objects = 10_000

    @Option(help: "Shards before each scale-out.")
    var shards = 3

    @Option(help: "Scale events (alternately out by one shard and back in).")
    var events = 10

    @Option(help: "ConfigMaps changed per second while the shards come and go (0: none).")
    var churn: Double = 0

    @Option(help: "Write the per-event latencies (milliseconds) to this JSON file, for benchmarks/plots.py.")
    var json: String?

    static let namespace = "ctrlmesh-system"
    static let configMaps = GroupVersionResource(group: "", version: "v1", resource: "configmaps")

    struct Member {
        let proxy: ProxyRuntime
        let proxyTask: Task<Void, Never>
        let informer: Informer
        let informerTask: Task<Void, Never>
        let client: RESTClient
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        var serverConfig = EmbeddedAPIServer.Configuration()
        serverConfig.options.writeFence = StoredGrantFences().judge
        let server = try await EmbeddedAPIServer.start(serverConfig)
        let admin = RESTClient(config: ClientConfig(server: server.url), qps: nil)
        for name in [HandoverBench.namespace, "bench"] {
            _ = try server.api.createObject(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]])
        }
        _ = try server.api.createObject(try YAMLDocument.parse(ShardingConfigCRD.yaml))
        // A local run in one process: plaintext sessions whose proxies prove no pod.
        var options = ManagerRuntime.Options(grpcHost: "127.0.0.1", grpcPort: 0, identity: "bench", namespace: HandoverBench.namespace)
        options.grpcPlaintext = true
        options.trustsSessions = true
        let manager = try await ManagerRuntime.start(options, upstream: ClientConfig(server: server.url))
        let managerTask = Task { await manager.run() }
        let config: JSON = [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
            "metadata": ["name": "bench", "namespace": .string(HandoverBench.namespace)],
            "spec": ["selector": ["matchLabels": ["app": "bench"]], "resources": [["apiGroups": [""], "resources": ["configmaps"]]],
                     "sharding": ["mode": "ObjectHash", "slots": 256]],
        ]
        _ = try await admin.create(MeshConfig.resource, namespace: HandoverBench.namespace, config)
        let created = ContinuousClock.now
        for i in 0..<objects {
            _ = try server.api.createObject(["apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": ["name": .string("cm-\(i)"), "namespace": "bench"],
                                             "data": ["index": .string(String(i)), "payload": .string(String(repeating: "x", count: 200))]])
        }
        print("handover: \(objects) ConfigMaps created in \(seconds(created.duration(to: .now))); \(shards) shards, \(events) scale events"
              + (churn > 0 ? ", \(churn) ConfigMap changes per second throughout" : ""))

        var members: [Int: Member] = [:]
        func start(_ ordinal: Int) async throws {
            let pod = "bench-\(ordinal)"
            _ = try? server.api.createObject(["apiVersion": "v1", "kind": "Pod",
                                              "metadata": ["name": .string(pod), "namespace": .string(HandoverBench.namespace), "labels": ["app": "bench"]],
                                              "spec": ["containers": [["name": "c", "image": "x"]]]])
            let mesh = ProxyRuntime.Mesh(managers: [.init(host: "127.0.0.1", port: manager.grpcPort)], podName: pod,
                                         podNamespace: HandoverBench.namespace,
                                         lease: .init(duration: .seconds(6), renewDeadline: .seconds(4), retryPeriod: .seconds(1)))
            let proxy = try await ProxyRuntime.start(.init(host: "127.0.0.1", port: 0, mesh: mesh), upstream: ClientConfig(server: server.url))
            let proxyTask = Task { await proxy.run() }
            let client = RESTClient(config: ClientConfig(server: "http://127.0.0.1:\(proxy.port)"), qps: nil)
            let informer = Informer(client: client, resource: HandoverBench.configMaps, namespace: "bench")
            let informerTask = Task { await informer.run() }
            members[ordinal] = Member(proxy: proxy, proxyTask: proxyTask, informer: informer, informerTask: informerTask, client: client)
        }
        func stop(_ ordinal: Int) async {
            guard let member = members.removeValue(forKey: ordinal) else { return }
            member.proxyTask.cancel()
            _ = await member.proxyTask.value
            await member.proxy.leaveMesh()
            member.informerTask.cancel()
            _ = await member.informerTask.value
            await member.client.connection.shutdown()
            await member.proxy.close()
            _ = try? await admin.delete(.pods, namespace: HandoverBench.namespace, name: "bench-\(ordinal)")
        }
        /// (objects in no cache, objects in two or more caches, whether `required` holds some).
        func coverage(required: Int?) -> (missing: Int, doubled: Int, requiredHolds: Bool) {
            var seen = [String: Int](minimumCapacity: objects)
            for member in members.values {
                for key in member.informer.cache.keys() { seen[key, default: 0] += 1 }
            }
            let requiredHolds = required.map { (members[$0]?.informer.cache.count ?? 0) > 0 } ?? true
            return (objects - seen.count, seen.values.filter { $0 > 1 }.count, requiredHolds)
        }
        /// Waits until every object is in exactly one informer (and `required` holds some);
        /// returns how long that took and the most copies beyond one seen meanwhile. It polls
        /// the caches' sizes, which costs nothing; the key-by-key check, which on 20,000 objects
        /// costs milliseconds of the CPU the handover is using, runs only when the sizes add up.
        /// (Caches hold only real objects, so the copies beyond one are the sizes' sum minus
        /// the objects held at all: the sum minus the total is a lower bound.)
        func settle(required: Int?) async throws -> (Duration, Int) {
            let t0 = ContinuousClock.now
            var worst = 0
            while true {
                let held = members.values.reduce(0) { $0 + $1.informer.cache.count }
                worst = max(worst, held - objects)
                if held == objects {
                    let (missing, doubled, holds) = coverage(required: required)
                    worst = max(worst, doubled)
                    if missing == 0, holds { return (t0.duration(to: .now), worst) }
                }
                if t0.duration(to: .now) > .seconds(120) {
                    let (missing, doubled, _) = coverage(required: required)
                    throw ValidationError("no settlement within 120 s: \(missing) objects in no cache, \(doubled) in two")
                }
                try await Task.sleep(for: .milliseconds(5))
            }
        }

        for ordinal in 0..<shards { try await start(ordinal) }
        let (initial, _) = try await settle(required: nil)
        print("  initial: every object in exactly one of \(shards) informers after \(seconds(initial))")
        let changes = churn > 0 ? Task { await change(admin, perSecond: churn) } : nil
        var latencies: [Duration] = []
        var worstOverlap = 0
        for event in 0..<events {
            let joining = event % 2 == 0
            let t0 = ContinuousClock.now
            if joining { try await start(shards) } else { await stop(shards) }
            let (_, overlap) = try await settle(required: joining ? shards : nil)
            let latency = t0.duration(to: .now)
            latencies.append(latency)
            worstOverlap = max(worstOverlap, overlap)
            print("  event \(event + 1): \(joining ? "scale out to \(shards + 1)" : "scale in to \(shards)"), settled in \(seconds(latency)); objects in two caches at once while settling: \(overlap)")
            try await Task.sleep(for: .milliseconds(300))
        }
        changes?.cancel()
        let changed = await changes?.value ?? 0
        let status = try await admin.get(MeshConfig.resource, namespace: HandoverBench.namespace, name: "bench")["status"] ?? .null
        let sorted = latencies.sorted()
        let p50 = sorted[sorted.count / 2]
        let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        let final = coverage(required: nil)
        print("handover latency, scale event -> every object in exactly one informer: p50 \(ms(p50)), p99 \(ms(p99)), max \(ms(sorted.last!)) over \(sorted.count) events (target p99 < 1000 ms)")
        print("manager per-slot handovers (target change -> new owner acknowledged): \(status["handovers"]?["total"]?.intValue ?? 0) slots, p50 \(status["handovers"]?["p50Milliseconds"]?.intValue ?? -1) ms, p99 \(status["handovers"]?["p99Milliseconds"]?.intValue ?? -1) ms")
        print("objects in two informers after settling: \(final.doubled) (must be 0); in none: \(final.missing); most in two at once mid-handover: \(worstOverlap)"
              + (churn > 0 ? "; \(changed) ConfigMaps changed meanwhile" : ""))
        if let json {
            let record: JSON = ["objects": .int(objects), "shards": .int(shards), "churnPerSecond": .number(String(churn)),
                                "latenciesMilliseconds": .array(latencies.map { .number(String(format: "%.1f", milliseconds($0))) }),
                                "managerSlotP50Milliseconds": status["handovers"]?["p50Milliseconds"] ?? .null,
                                "managerSlotP99Milliseconds": status["handovers"]?["p99Milliseconds"] ?? .null,
                                "doubledAfterSettling": .int(final.doubled), "missingAfterSettling": .int(final.missing)]
            try Data(record.serialized()).write(to: URL(fileURLWithPath: json))
        }

        for ordinal in members.keys.sorted() { await stop(ordinal) }
        managerTask.cancel()
        _ = await managerTask.value
        await manager.close()
        await admin.connection.shutdown()
        await server.close()
        if final.doubled != 0 || final.missing != 0 { throw ExitCode(1) }
    }

    /// Patches ConfigMaps round-robin at `perSecond` until cancelled; returns how many it changed.
    func change(_ client: RESTClient, perSecond: Double) async -> Int {
        var changed = 0
        let started = ContinuousClock.now
        while !Task.isCancelled {
            let patch: JSON = ["data": ["churn": .string(String(changed))]]
            _ = try? await client.patch(HandoverBench.configMaps, namespace: "bench", name: "cm-\(changed % objects)", type: .merge, patch)
            changed += 1
            try? await Task.sleep(until: started + .seconds(Double(changed) / perSecond))
        }
        return changed
    }

    func milliseconds(_ duration: Duration) -> Double { (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) * 1000 }

    func seconds(_ duration: Duration) -> String { String(format: "%.2f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) }
    func ms(_ duration: Duration) -> String { String(format: "%.0f ms", (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) * 1000) }
}
