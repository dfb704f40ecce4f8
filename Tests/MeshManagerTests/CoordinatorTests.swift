import KubeClient
import KubeModel
import Logging
import MeshControl
import MeshCore
@testable import MeshManager
import Synchronization
import Testing

/// The coordinator's I/O-free half: configs, sessions and leases in, specs out.
@Suite struct CoordinatorTests {
    /// What one fake proxy has been sent.
    final class Inbox: Sendable {
        final class Collected: Sendable {
            let list = Mutex<[ManagerMessage]>([])
        }
        let collected = Collected()
        let task: Task<Void, Never>

        init(_ stream: AsyncStream<ManagerMessage>) {
            let collected = collected
            task = Task { for await message in stream { collected.list.withLock { $0.append(message) } } }
        }

        func take() async -> [ManagerMessage] {
            try? await Task.sleep(for: .milliseconds(30))
            return collected.list.withLock { taken in defer { taken = [] }; return taken }
        }
    }

    static func config(shards: Int? = nil, status: JSON? = nil) -> JSON {
        var object: JSON = [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
            "metadata": ["name": "op", "namespace": "ns"],
            "spec": ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": [""], "resources": ["pods"]]],
                     "sharding": ["mode": "ObjectHash", "slots": 16, "replicasPerShard": 1]],
        ]
        if let shards { object.setValue(.int(shards), at: ["spec", "sharding", "shards"]) }
        if let status { object.setValue(status, at: ["status"]) }
        return object
    }

    static let key = "ctrlmesh.kruise.io/ns/op"

    func open(_ coordinator: Coordinator, _ pod: String, labels: [String: String]? = ["app": "op"], applied: ShardSpec? = nil) async -> (Int, Inbox) {
        guard let (session, stream) = await coordinator.open(pod: pod, namespace: "ns", labels: labels, applied: applied) else {
            Issue.record("the coordinator refused the session")
            return (-1, Inbox(AsyncStream { $0.finish() }))
        }
        return (session, Inbox(stream))
    }

    /// A coordinator past its first full view, accepting sessions.
    func accepting() async -> Coordinator {
        let coordinator = Coordinator(logger: Logger(label: "test"))
        await coordinator.startAccepting()
        return coordinator
    }

    func specs(_ messages: [ManagerMessage]) -> [ShardSpec] {
        messages.compactMap { if case .spec(let spec) = $0 { spec } else { nil } }
    }

    @Test func membersAreGrantedTheirShareOnlyAfterTheRevokeIsAcknowledged() async throws {
        let coordinator = await accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config())
        let (s0, inbox0) = await open(coordinator, "op-0")
        let first = try #require(specs(await inbox0.take()).last)
        #expect(first.shard == "op-0" && first.owned.objectHashRanges == [.all])
        await coordinator.acknowledged(member: "ns/op-0", session: s0, epoch: first.epoch)

        let (s1, inbox1) = await open(coordinator, "op-1")
        let revoke = try #require(specs(await inbox0.take()).last)
        let empty = try #require(specs(await inbox1.take()).last)
        #expect(revoke.owned.objectHashRanges == [HashRange(start: 0, last: (1 << 63) - 1)] || revoke.owned.objectHashRanges == [HashRange(start: 1 << 63, last: .max)])
        #expect(empty.shard == "op-1" && empty.owned.objectHashRanges.isEmpty, "nothing for op-1 until op-0 lets go")
        await coordinator.acknowledged(member: "ns/op-1", session: s1, epoch: empty.epoch)
        #expect(specs(await inbox1.take()).isEmpty)
        await coordinator.acknowledged(member: "ns/op-0", session: s0, epoch: revoke.epoch)
        let grant = try #require(specs(await inbox1.take()).last)
        #expect(grant.owned.objectHashRanges.count == 1 && grant.owned.objectHashRanges != revoke.owned.objectHashRanges)
        await coordinator.acknowledged(member: "ns/op-1", session: s1, epoch: grant.epoch)

        let snapshot = try #require(await coordinator.takeDirty().last?.snapshot)
        let ready = snapshot.status["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
        #expect(ready?["status"] == "True")
        #expect(snapshot.status["shards"]?.arrayValue?.map { $0["slots"]?.stringValue } == ["0-7", "8-15"] || snapshot.status["shards"]?.arrayValue?.map { $0["slots"]?.stringValue } == ["8-15", "0-7"])
        #expect(snapshot.status["handovers"]?["total"] == 8, "op-1's eight slots moved from op-0")

        // op-1 releases its lease after fencing: its slots go back to op-0 without waiting.
        await coordinator.closed(member: "ns/op-1", session: s1)
        await coordinator.leaseObserved(namespace: "ns", pod: "op-1", holder: "", renewTime: nil, duration: .seconds(10))
        await coordinator.tick()
        let back = try #require(specs(await inbox0.take()).last)
        #expect(back.owned.objectHashRanges == [.all])
    }

    @Test func podsThatCannotBePlacedAreToldWhy() async throws {
        let coordinator = await accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config(shards: 1))
        let (_, missing) = await open(coordinator, "gone", labels: nil)
        let (_, unselected) = await open(coordinator, "other-0", labels: ["app": "other"])
        let (_, noOrdinal) = await open(coordinator, "op", labels: ["app": "op"])
        let (_, spare) = await open(coordinator, "op-1")
        for (inbox, expected) in [(missing, "does not exist"), (unselected, "no ShardingConfig in ns selects pod other-0"), (noOrdinal, "neither a StatefulSet ordinal")] {
            let messages = await inbox.take()
            guard case .unassigned(let reason)? = messages.last else { Issue.record("got \(messages)"); continue }
            #expect(reason.contains(expected), "\(reason)")
        }
        let spareSpec = try #require(specs(await spare.take()).last)
        #expect(spareSpec.shard == "op-spare" && spareSpec.owned == ShardSpec.OwnedKeys())
        let status = try #require(await coordinator.takeDirty().last?.snapshot?.status)
        #expect(status["unassigned"]?.arrayValue?.first?["pod"] == "ns/op")
        #expect(status["conditions"]?.arrayValue?.first { $0["type"] == "Degraded" }?["reason"] == "UnplacedPods")
    }

    /// A pod that stops being selected still enforces its last spec until it says it fenced:
    /// its slots go nowhere before that.
    @Test func anUnassignedMemberBlocksItsSlotsUntilItFences() async throws {
        let coordinator = await accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config())
        let (s0, inbox0) = await open(coordinator, "op-0")
        let all = try #require(specs(await inbox0.take()).last)
        await coordinator.acknowledged(member: "ns/op-0", session: s0, epoch: all.epoch)

        // Relabelled: its new session reports the spec it still enforces.
        let (again, relabelled) = await open(coordinator, "op-0", labels: ["app": "other"], applied: all)
        guard case .unassigned? = await relabelled.take().last else { Issue.record("not told it is unassigned"); return }
        let (s1, inbox1) = await open(coordinator, "op-1")
        #expect(specs(await inbox1.take()).last?.owned.objectHashRanges.isEmpty == true, "op-0 may still write every slot")
        await coordinator.tick()
        #expect(specs(await inbox1.take()).isEmpty)

        await coordinator.fenced(member: "ns/op-0", session: again)
        let granted = try #require(specs(await inbox1.take()).last)
        #expect(granted.owned.objectHashRanges == [.all])
        _ = s1
    }

    /// A changed config closes the namespace's sessions; until everyone has reported again,
    /// nothing is granted that a silent member might hold, and members keep their share, sent
    /// again with what changed.
    @Test func aChangedConfigWaitsForEveryMemberToReport() async throws {
        let coordinator = await accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config())
        var applied: [String: ShardSpec] = [:]
        var sessions: [String: (Int, Inbox)] = [:]
        for pod in ["op-0", "op-1"] { sessions[pod] = await open(coordinator, pod) }
        for _ in 0..<4 {
            for (pod, (session, inbox)) in sessions {
                for spec in specs(await inbox.take()) {
                    applied[pod] = spec
                    await coordinator.acknowledged(member: "ns/\(pod)", session: session, epoch: spec.epoch)
                }
            }
        }
        #expect(applied["op-0"]?.owned.objectHashRanges.count == 1 && applied["op-1"]?.owned.objectHashRanges.count == 1)
        var changed = CoordinatorTests.config()
        changed.setValue(["namespace": "ns", "name": "renamed-lock"], at: ["spec", "leaderElection"])
        await coordinator.configUpserted(key: CoordinatorTests.key, object: changed)
        // op-1 has not reported yet: op-0 keeps its half and gets nothing of op-1's.
        let (_, again0) = await open(coordinator, "op-0", applied: applied["op-0"])
        let resent = specs(await again0.take())
        #expect(resent.allSatisfy { $0.owned.objectHashRanges == applied["op-0"]?.owned.objectHashRanges })
        let (_, again1) = await open(coordinator, "op-1", applied: applied["op-1"])
        let resent1 = specs(await again1.take())
        #expect(resent1.allSatisfy { $0.owned.objectHashRanges == applied["op-1"]?.owned.objectHashRanges })
        // Same slots, new lock: each member is sent its share again, with the renamed lock.
        #expect(resent.last?.leaderElection?.name == "renamed-lock" && resent1.last?.leaderElection?.name == "renamed-lock")
    }

    /// A renewal of a shard's renamed lock rewrites the status (its leader column); other
    /// leases do not.
    @Test func lockChangesRefreshTheStatus() async throws {
        let coordinator = await accepting()
        var object = CoordinatorTests.config()
        object.setValue(["namespace": "ns", "name": "lock"], at: ["spec", "leaderElection"])
        await coordinator.configUpserted(key: CoordinatorTests.key, object: object)
        _ = await coordinator.takeDirty()
        await coordinator.lockChanged(namespace: "ns", name: "unrelated")
        await coordinator.lockChanged(namespace: "other", name: "lock---op-0")
        #expect(await coordinator.takeDirty().isEmpty)
        await coordinator.lockChanged(namespace: "ns", name: "lock---op-0")
        #expect(await coordinator.takeDirty().map(\.key) == [CoordinatorTests.key])
    }

    @Test func invalidConfigsAreReportedNotPlanned() async throws {
        let coordinator = await accepting()
        var object = CoordinatorTests.config()
        object.setValue(.int(3), at: ["spec", "sharding", "slots"])
        await coordinator.configUpserted(key: CoordinatorTests.key, object: object)
        let dirty = await coordinator.takeDirty()
        #expect(dirty.first?.invalid?.contains("spec.sharding.slots") == true && dirty.first?.snapshot == nil)
    }

    /// A new leader reads the assignment from status and its members' reports: nothing moves,
    /// nothing is re-sent.
    @Test func aNewLeaderAdoptsThePersistedAssignment() async throws {
        let first = await accepting()
        await first.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config())
        var applied: [String: ShardSpec] = [:]
        var sessions: [String: (Int, Inbox)] = [:]
        for pod in ["op-0", "op-1", "op-2"] { sessions[pod] = await open(first, pod) }
        for _ in 0..<4 {
            for (pod, (session, inbox)) in sessions {
                for spec in specs(await inbox.take()) {
                    applied[pod] = spec
                    await first.acknowledged(member: "ns/\(pod)", session: session, epoch: spec.epoch)
                }
            }
        }
        let status = try #require(await first.takeDirty().last?.snapshot?.status)
        #expect(status["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }?["status"] == "True")

        let second = Coordinator(logger: Logger(label: "test"))
        for pod in ["op-0", "op-1", "op-2"] {
            await second.leaseObserved(namespace: "ns", pod: pod, holder: pod, renewTime: "t1", duration: .seconds(10))
        }
        await second.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config(status: status))
        let early = await second.open(pod: "op-0", namespace: "ns", labels: ["app": "op"], applied: applied["op-0"])
        #expect(early.map { _ in true } == nil, "no session before the first full view")
        await second.startAccepting()
        for pod in ["op-0", "op-1", "op-2"] {
            let (_, inbox) = await open(second, pod, applied: applied[pod])
            #expect(await inbox.take().isEmpty, "\(pod) already enforces its share")
        }
        let adopted = try #require(await second.takeDirty().last?.snapshot?.status)
        #expect(adopted["shards"] == status["shards"] || adopted["shards"]?.arrayValue?.map { $0["targetSlots"] } == status["shards"]?.arrayValue?.map { $0["targetSlots"] })
    }
}

/// Canary rollouts driven through the coordinator: steps, errors from the canary's proxy,
/// and a person's requests by annotation.
@Suite struct CoordinatorRolloutTests {
    static func config(request: String? = nil) -> JSON {
        var object = CoordinatorTests.config()
        object.setValue(["selector": ["matchLabels": ["version": "v2"]], "steps": [["percent": 25], ["percent": 100]], "pause": "0s",
                         "analysis": ["maxErrorPercent": 20, "minRequests": 5, "window": "1m"]], at: ["spec", "canary"])
        if let request { object.setValue(["ctrlmesh.kruise.io/rollout-request": .string(request)], at: ["metadata", "annotations"]) }
        return object
    }

    struct Member {
        let id: String
        let session: Int
        let inbox: CoordinatorTests.Inbox
    }

    /// Delivers every spec, acknowledges it and ticks, until `done` holds of the mesh.
    func settle(_ coordinator: Coordinator, _ members: [Member], _ what: String, until done: (Coordinator.Mesh) -> Bool) async {
        for _ in 0..<40 {
            for member in members {
                for case .spec(let spec) in await member.inbox.take() {
                    await coordinator.acknowledged(member: member.id, session: member.session, epoch: spec.epoch)
                }
            }
            await coordinator.tick()
            if let mesh = await coordinator.meshes[CoordinatorTests.key], done(mesh) { return }
        }
        Issue.record("never \(what): \(String(describing: await coordinator.meshes[CoordinatorTests.key]?.rollout))")
    }

    func start(request: String? = nil) async -> (Coordinator, [Member]) {
        let tests = CoordinatorTests()
        let coordinator = await tests.accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorRolloutTests.config(request: request))
        let (s0, inbox0) = await tests.open(coordinator, "op-0")
        let (s1, inbox1) = await tests.open(coordinator, "op-v2", labels: ["app": "op", "version": "v2"])
        return (coordinator, [Member(id: "ns/op-0", session: s0, inbox: inbox0), Member(id: "ns/op-v2", session: s1, inbox: inbox1)])
    }

    static func owns(_ mesh: Coordinator.Mesh, canary: Int, stable: Int) -> Bool {
        mesh.planner.converged && mesh.planner.units(of: "op-canary").count == canary && mesh.planner.units(of: "op-0").count == stable
    }

    @Test func aHealthyCanaryTakesEveryStepToCompletion() async {
        let (coordinator, members) = await start()
        await settle(coordinator, members, "completed") { $0.rollout?.phase == .completed && Self.owns($0, canary: 16, stable: 0) }
        let status = await coordinator.takeDirty().first?.snapshot?.status["rollout"]
        #expect(status?["phase"] == "Completed" && status?["ownedSlots"] == 16 && status?["step"] == 2)
        // The canary block removed: its rollout is cleared from status (null in the merge patch).
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorTests.config())
        #expect(await coordinator.takeDirty().first?.snapshot?.status["rollout"] == .null)
    }

    @Test func aFailingCanaryRollsBackAndAResumeStartsOver() async {
        // Paused before the first step converges: the canary holds 25% of the 16 slots.
        let (coordinator, members) = await start(request: "pause/1")
        await settle(coordinator, members, "paused at 4 slots") { $0.rollout?.phase == .paused && Self.owns($0, canary: 4, stable: 12) }
        // Calls from a stable pod are not the canary's.
        await coordinator.traffic(member: "ns/op-0", session: members[0].session, requests: 50, errors: 50)
        await coordinator.tick()
        #expect(await coordinator.meshes[CoordinatorTests.key]?.rollout?.phase == .paused)
        await coordinator.traffic(member: "ns/op-v2", session: members[1].session, requests: 10, errors: 4)
        await settle(coordinator, members, "rolled back") { $0.rollout?.phase == .rolledBack && Self.owns($0, canary: 0, stable: 16) }
        let rollout = await coordinator.meshes[CoordinatorTests.key]?.rollout
        #expect(rollout?.message.contains("4 of 10 canary API calls failed (40% > 20%)") == true)
        // The same request again is not acted on twice; a new one is, and starts over.
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorRolloutTests.config(request: "pause/1"))
        #expect(await coordinator.meshes[CoordinatorTests.key]?.rollout?.phase == .rolledBack)
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorRolloutTests.config(request: "resume/2"))
        let resumed = await coordinator.meshes[CoordinatorTests.key]?.rollout
        #expect(resumed?.phase == .progressing && resumed?.step == 0)
        await settle(coordinator, members, "completed") { $0.rollout?.phase == .completed && Self.owns($0, canary: 16, stable: 0) }
        // Abort after completion hands everything back.
        await coordinator.configUpserted(key: CoordinatorTests.key, object: CoordinatorRolloutTests.config(request: "abort/3"))
        await settle(coordinator, members, "aborted") { $0.rollout?.phase == .aborted && Self.owns($0, canary: 0, stable: 16) }
    }

    @Test func aNewLeaderAdoptsTheRecordedRollout() async {
        var object = CoordinatorRolloutTests.config(request: "pause/7")
        object.setValue(["phase": "Paused", "step": 2, "handledRequest": "pause/7"], at: ["status", "rollout"])
        let coordinator = await CoordinatorTests().accepting()
        await coordinator.configUpserted(key: CoordinatorTests.key, object: object)
        let rollout = await coordinator.meshes[CoordinatorTests.key]?.rollout
        #expect(rollout?.phase == .paused && rollout?.step == 1, "status counts steps from 1")
        #expect(await coordinator.meshes[CoordinatorTests.key]?.planner.canaryUnits.count == 16)
    }
}
