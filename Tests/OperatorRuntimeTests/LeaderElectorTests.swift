import KubeClient
import KubeModel
@testable import OperatorRuntime
import Testing

/// Two electors against the embedded API server's Lease, with short timings.
@Suite struct LeaderElectorTests {
    func configuration(_ identity: String, release: Bool = true) -> LeaderElector.Configuration {
        var c = LeaderElector.Configuration(namespace: "default", name: "elected", identity: identity)
        c.leaseDuration = .seconds(3)
        c.renewDeadline = .seconds(2)
        c.retryPeriod = .milliseconds(250)
        c.releaseOnCancel = release
        return c
    }

    /// Records who leads when, and whether two ever did at once.
    final class Timeline: Sendable {
        let leaders = Locked(Set<String>())
        let overlaps = Locked(0)
        let changes = Locked([(String, Bool, ContinuousClock.Instant)]())

        func change(_ identity: String, _ leading: Bool) {
            leaders.withLock { set in
                if leading { set.insert(identity) } else { set.remove(identity) }
                if set.count > 1 { overlaps.withLock { $0 += 1 } }
            }
            changes.withLock { $0.append((identity, leading, .now)) }
        }

        func started(_ identity: String) -> ContinuousClock.Instant? {
            changes.value.first { $0.0 == identity && $0.1 }?.2
        }
    }

    func elector(_ cluster: EmbeddedCluster, _ identity: String, _ timeline: Timeline, release: Bool = true) -> LeaderElector {
        LeaderElector(client: cluster.client, configuration: configuration(identity, release: release)) { timeline.change(identity, $0) }
    }

    @Test func releaseHandsOverAtOnceAndACrashAfterTheLeaseDuration() async throws {
        try await EmbeddedCluster.with { cluster in
            let timeline = Timeline()
            let a = elector(cluster, "a", timeline)
            let b = elector(cluster, "b", timeline, release: false)
            let c = elector(cluster, "c", timeline)
            let runA = Task { try await a.run { try await Task.sleep(for: .seconds(3600)) } }
            #expect(await eventually { a.isLeader })
            let runB = Task { try await b.run { try await Task.sleep(for: .seconds(3600)) } }
            try await Task.sleep(for: .seconds(1))
            #expect(!b.isLeader)

            // A stops and releases: B takes over within a retry period or two.
            let released = ContinuousClock.now
            runA.cancel()
            _ = await runA.result
            #expect(await eventually(timeout: .seconds(3)) { b.isLeader })
            let handover = released.duration(to: timeline.started("b") ?? .now)
            #expect(handover < .milliseconds(1_500), "release handover took \(handover)")
            var lease = try await cluster.client.get(GroupVersionResource.leases, namespace: "default", name: "elected")
            #expect(LeaderElectionRecord(lease: lease).holderIdentity == "b")
            #expect(LeaderElectionRecord(lease: lease).leaseTransitions == 1)

            // B "crashes" (stops renewing without releasing): C waits out the lease, then leads.
            let runC = Task { try await c.run { try await Task.sleep(for: .seconds(3600)) } }
            try await Task.sleep(for: .milliseconds(500))
            let crashed = ContinuousClock.now
            runB.cancel()
            _ = await runB.result
            #expect(await eventually(timeout: .seconds(6)) { c.isLeader })
            let takeover = crashed.duration(to: timeline.started("c") ?? .now)
            #expect(takeover >= .milliseconds(2_400), "took over before the lease could have expired: \(takeover)")
            #expect(takeover < .milliseconds(4_000), "took over later than lease duration + retry: \(takeover)")
            lease = try await cluster.client.get(GroupVersionResource.leases, namespace: "default", name: "elected")
            #expect(LeaderElectionRecord(lease: lease).holderIdentity == "c")
            #expect(timeline.overlaps.value == 0)
            runC.cancel()
            _ = await runC.result
        }
    }

    @Test func losingTheLeaseStopsTheWork() async throws {
        try await EmbeddedCluster.with { cluster in
            let timeline = Timeline()
            let a = elector(cluster, "a", timeline)
            let work = Locked(false)
            let runA = Task {
                try await a.run {
                    work.withLock { $0 = true }
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            #expect(await eventually { work.value })
            // Someone else overwrites the Lease: A's next renewal sees another holder and stops.
            var lease = try await cluster.client.get(GroupVersionResource.leases, namespace: "default", name: "elected")
            lease.setValue("intruder", at: ["spec", "holderIdentity"])
            _ = try await cluster.client.update(GroupVersionResource.leases, lease)
            let result = await runA.result
            #expect(throws: LeaderElector.LeadershipLost.self) { try result.get() }
            #expect(!a.isLeader)
        }
    }
}
