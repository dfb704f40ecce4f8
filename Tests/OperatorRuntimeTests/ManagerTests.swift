import AsyncHTTPClient
import KubeClient
import KubeModel
@testable import OperatorRuntime
import Testing

/// A controller for ConfigMaps that owns Secrets, run by a manager against the embedded API
/// server: what an operator author writes, end to end.
@Suite struct ManagerTests {
    static let secrets = GroupVersionResource(group: "", version: "v1", resource: "secrets")

    @Test func reconcilesForAndOwnsRetriesFailuresAndStopsGracefully() async throws {
        try await EmbeddedCluster.with { cluster in
            let manager = Manager(client: cluster.client, options: .init(healthListen: ("127.0.0.1", 0)))
            let seen = Locked([String]())
            let inFlight = Locked(0)
            let finished = Locked(0)
            let failuresLeft = Locked(2)
            manager.addController(.init(name: "mirror", for: EmbeddedCluster.configMaps, kind: "ConfigMap",
                                        owns: [Self.secrets], workers: 3)) { request in
                seen.withLock { $0.append(request.name) }
                if request.name == "flaky", failuresLeft.withLock({ left in defer { left -= 1 }; return left > 0 }) {
                    struct Transient: Error {}
                    throw Transient()
                }
                if request.name == "slow" {
                    inFlight.withLock { $0 += 1 }
                    try? await Task.sleep(for: .milliseconds(400))
                    finished.withLock { $0 += 1 }
                }
                return .done
            }
            let running = Task { try await manager.run() }
            #expect(await eventually { manager.isReady })

            let owner = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default",
                                                        EmbeddedCluster.configMap("default", "owner"))
            _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default", EmbeddedCluster.configMap("default", "flaky"))
            #expect(await eventually { seen.value.contains("owner") })
            let before = seen.value.filter { $0 == "owner" }.count
            // A change to an owned Secret reconciles its controller owner.
            _ = try await cluster.client.create(Self.secrets, namespace: "default", [
                "apiVersion": "v1", "kind": "Secret",
                "metadata": ["name": "s", "namespace": "default",
                             "ownerReferences": [["apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                                  "uid": .string(owner.uid ?? ""), "controller": true]]],
            ])
            #expect(await eventually { seen.value.filter { $0 == "owner" }.count > before })
            // Two failures, then success: three reconciles of the flaky key, with backoff between.
            #expect(await eventually { seen.value.filter { $0 == "flaky" }.count == 3 })

            let metrics = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(manager.healthPort ?? 0)/metrics").get()
            let text = String(buffer: metrics.body ?? .init())
            #expect(text.contains("controller_runtime_reconcile_errors_total{controller=\"mirror\"} 2"))
            #expect(text.contains("workqueue_depth{name=\"mirror\"}"))
            #expect(text.contains("ctrlmesh_informer_cached_objects{resource=\"configmaps\"}"))
            let ready = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(manager.healthPort ?? 0)/readyz").get()
            #expect(ready.status == .ok)

            // Stop while a reconcile is running: it finishes before the manager returns.
            _ = try await cluster.client.create(EmbeddedCluster.configMaps, namespace: "default", EmbeddedCluster.configMap("default", "slow"))
            #expect(await eventually { inFlight.value == 1 })
            manager.stop()
            try await running.value
            #expect(finished.value == 1)
        }
    }

    @Test func aStopWhileWaitingForLeadershipReturnsAtOnce() async throws {
        try await EmbeddedCluster.with { cluster in
            var election = LeaderElector.Configuration(namespace: "default", name: "held", identity: "standby")
            election.retryPeriod = .milliseconds(200)
            // Someone else holds the Lease for an hour.
            _ = try await cluster.client.create(GroupVersionResource.leases, namespace: "default", [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "held", "namespace": "default"],
                "spec": ["holderIdentity": "other", "leaseDurationSeconds": 3600],
            ])
            let manager = Manager(client: cluster.client, options: .init(leaderElection: election))
            manager.addController(.init(name: "never", for: EmbeddedCluster.configMaps, kind: "ConfigMap")) { _ in
                Issue.record("a standby reconciled")
                return .done
            }
            let running = Task { try await manager.run() }
            try await Task.sleep(for: .milliseconds(600))
            #expect(!manager.isLeader)
            let stopped = ContinuousClock.now
            manager.stop()
            try await running.value
            #expect(stopped.duration(to: .now) < .seconds(2))
        }
    }

    /// A resource that is not served (its CRD not installed yet) never syncs; a stop must not
    /// wait for it.
    @Test func aStopBeforeTheCachesSyncReturnsAtOnce() async throws {
        try await EmbeddedCluster.with { cluster in
            let missing = GroupVersionResource(group: "example.com", version: "v1", resource: "widgets")
            let manager = Manager(client: cluster.client)
            manager.addController(.init(name: "widgets", for: missing, kind: "Widget")) { _ in .done }
            let running = Task { try await manager.run() }
            try await Task.sleep(for: .milliseconds(500))
            #expect(!manager.isReady)
            let stopped = ContinuousClock.now
            manager.stop()
            try await running.value
            #expect(stopped.duration(to: .now) < .seconds(2))
        }
    }

    /// Losing the Lease while leading ends the manager with `LeadershipLost`, its workers
    /// included (they wait on the queue, which must give them up).
    @Test func losingTheLeaseEndsTheManager() async throws {
        try await EmbeddedCluster.with { cluster in
            var election = LeaderElector.Configuration(namespace: "default", name: "lost", identity: "me")
            election.leaseDuration = .seconds(3)
            election.renewDeadline = .seconds(2)
            election.retryPeriod = .milliseconds(200)
            let manager = Manager(client: cluster.client, options: .init(leaderElection: election))
            manager.addController(.init(name: "idle", for: EmbeddedCluster.configMaps, kind: "ConfigMap", workers: 2)) { _ in .done }
            let running = Task { try await manager.run() }
            #expect(await eventually { manager.isLeader && manager.isReady })
            // The leader renews every 200 ms: take the Lease over as client-go's retry on
            // conflict would, reading it again when a renewal came between the read and the write.
            var takenOver = false
            for _ in 0..<20 where !takenOver {
                var lease = try await cluster.client.get(GroupVersionResource.leases, namespace: "default", name: "lost")
                lease.setValue("intruder", at: ["spec", "holderIdentity"])
                do {
                    _ = try await cluster.client.update(GroupVersionResource.leases, lease)
                    takenOver = true
                } catch let error as StatusError where error.code == 409 {
                    continue
                }
            }
            #expect(takenOver)
            let ended = Task {
                try await Task.sleep(for: .seconds(5))
                running.cancel()
            }
            let result = await running.result
            ended.cancel()
            #expect(throws: LeaderElector.LeadershipLost.self) { try result.get() }
        }
    }
}
