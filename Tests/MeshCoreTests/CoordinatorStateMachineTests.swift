import KubeModel
@testable import MeshCore
import Testing

/// The coordinator's decisions, event by event, with no I/O and no sleeps: configs, sessions,
/// leases and the clock in; sends, closes and grant records out.
@Suite struct CoordinatorStateMachineTests {
    typealias Driver = CoordinatorDriver

    @Test func membersAreGrantedTheirShareOnlyAfterTheRevokeIsAcknowledged() throws {
        var d = Driver()
        d.upsert()
        let s0 = try d.opened("op-0")
        let first = try d.lastSpec(s0)
        #expect(first.shard == "op-0" && first.owned.objectHashRanges == [.all])
        d.ack("op-0", s0, first.epoch)

        let s1 = try d.opened("op-1")
        let revoke = try d.lastSpec(s0)
        let empty = try d.lastSpec(s1)
        #expect(revoke.owned.objectHashRanges.count == 1 && revoke.owned.objectHashRanges != [.all])
        #expect(empty.shard == "op-1" && empty.owned.objectHashRanges.isEmpty, "nothing for op-1 until op-0 lets go")
        d.ack("op-1", s1, empty.epoch)
        #expect(d.specs(s1).isEmpty)
        d.ack("op-0", s0, revoke.epoch)
        let grant = try d.lastSpec(s1)
        #expect(grant.owned.objectHashRanges.count == 1 && grant.owned.objectHashRanges != revoke.owned.objectHashRanges)
        d.ack("op-1", s1, grant.epoch)
        let mesh = try #require(d.mesh)
        #expect(mesh.planner.converged && mesh.handoverCount == 8, "op-1's eight slots moved from op-0")

        // op-1 releases its lease after fencing: its slots go back to op-0 without waiting.
        d.perform(d.machine.closed(member: "ns/op-1", session: s1))
        d.perform(d.machine.leaseObserved(namespace: "ns", pod: "op-1", holder: "", renewTime: nil, duration: .seconds(10), now: d.now))
        let back = try d.lastSpec(s0)
        #expect(back.owned.objectHashRanges == [.all])
    }

    /// The fence at the API server must know a grant before its new owner can write: the spec
    /// that grants a unit waits for the record, and the record names the unit's new shard and
    /// the epoch of that spec.
    @Test func aGrantIsRecordedBeforeItIsSent() throws {
        var d = Driver()
        d.recordsGrants = false
        d.upsert()
        let s0 = try d.opened("op-0")
        #expect(d.specs(s0).isEmpty, "op-0's first spec grants every slot: it waits for the record")
        #expect(d.pendingRecords.count == 1)
        d.writePendingRecords()
        let all = try d.lastSpec(s0)
        #expect(d.records.last?.grants.units.values.allSatisfy { $0 == ShardGrants.Grant(shard: "op-0", epoch: all.epoch) } == true)
        #expect(d.records.last?.grants.units.count == 16 && d.records.last?.grants.term == 1)
        d.ack("op-0", s0, all.epoch)

        let s1 = try d.opened("op-1")
        let revoke = try d.lastSpec(s0)
        #expect(revoke.owned.objectHashRanges.count == 1)
        _ = d.specs(s1)
        d.writePendingRecords()
        d.ack("op-0", s0, revoke.epoch)
        #expect(d.specs(s1).isEmpty, "the grant to op-1 waits for its record")
        let record = try #require(d.pendingRecords.last?.grants)
        let moved = record.units.filter { $0.value.shard == "op-1" }
        #expect(moved.count == 8 && Set(moved.values.map(\.epoch)).count == 1)
        d.writePendingRecords()
        let grant = try d.lastSpec(s1)
        #expect(moved.values.first?.epoch == grant.epoch)
        #expect(record.covers(shard: "op-1", epoch: grant.epoch, units: Set(moved.keys)))
        #expect(!record.covers(shard: "op-0", epoch: revoke.epoch, units: Set(moved.keys)), "op-0's old epoch no longer holds them")
    }

    /// A paused proxy keeps its TCP connection: its session stays open while it renews
    /// nothing. Once its liveness has expired it is dead all the same: its session is closed
    /// and its slots go to the member still alive.
    @Test func aMemberWhoseLeaseExpiredIsDeadThoughItsSessionIsOpen() throws {
        var d = Driver(skew: .seconds(1))
        d.upsert()
        for pod in ["op-0", "op-1"] {
            d.perform(d.machine.leaseObserved(namespace: "ns", pod: pod, holder: pod, renewTime: "t0", duration: .seconds(3), now: d.now))
        }
        let s0 = try d.opened("op-0")
        let s1 = try d.opened("op-1")
        let applied = d.settle(["op-0": s0, "op-1": s1])
        #expect(applied["op-0"]?.owned.objectHashRanges.count == 1 && applied["op-1"]?.owned.objectHashRanges.count == 1)

        // op-1 freezes: no renewals, no heartbeats. op-0 renews and beats on.
        for second in 1...3 {
            d.now += .seconds(1)
            d.perform(d.machine.leaseObserved(namespace: "ns", pod: "op-0", holder: "op-0", renewTime: "t\(second)", duration: .seconds(3), now: d.now))
            d.machine.heartbeat(member: "ns/op-1", session: s0, now: d.now)  // another session's beat is not op-1's
            d.tick()
            #expect(!d.closed.contains(s1), "op-1's lease has not expired yet at \(second)s")
        }
        d.now += .seconds(1)
        d.perform(d.machine.leaseObserved(namespace: "ns", pod: "op-0", holder: "op-0", renewTime: "t4", duration: .seconds(3), now: d.now))
        d.tick(after: .milliseconds(100))
        #expect(d.closed.contains(s1) && !d.closed.contains(s0))
        let all = try d.lastSpec(s0)
        #expect(all.owned.objectHashRanges == [.all])
        #expect(d.logs.contains { $0.contains("ns/op-1") && $0.contains("closing the session") })
    }

    @Test func heartbeatsOnTheSessionKeepAMemberWithoutALeaseAlive() throws {
        var d = Driver()
        d.upsert()
        let s0 = try d.opened("op-0")
        _ = d.settle(["op-0": s0])
        for _ in 0..<100 {
            d.now += .seconds(2)
            d.machine.heartbeat(member: "ns/op-0", session: s0, now: d.now)
            d.tick()
        }
        #expect(!d.closed.contains(s0))
        d.tick(after: d.machine.defaultLeaseDuration + .seconds(3))
        #expect(d.closed.contains(s0), "silent past the default duration")
    }

    /// A session speaks only for the pod it proved to be: an impostor can neither register as
    /// a member nor push the real member's session aside.
    @Test func aSessionSpeaksOnlyForThePodItProved() throws {
        var d = Driver(trustsSessions: false)
        d.upsert()
        let real = try d.opened("op-0", proof: .pod(namespace: "ns", name: "op-0"))
        let spec = try d.lastSpec(real)
        d.ack("op-0", real, spec.epoch)

        for proof in [SessionProof.none, .pod(namespace: "ns", name: "op-1"), .pod(namespace: "other", name: "op-0")] {
            let (opening, actions) = d.machine.open(pod: "op-0", namespace: "ns", proof: proof, labels: ["app": "op"], applied: nil, now: d.now)
            guard case .refused = opening else { Issue.record("\(proof) was let in: \(opening)"); continue }
            #expect(actions.isEmpty)
        }
        #expect(d.closed.isEmpty && d.machine.sessions["ns/op-0"]?.id == real)
        // Messages on the real session still count; the impostor had no session to send on.
        #expect(d.mesh?.planner.converged == true)

        var trusting = Driver(trustsSessions: true)
        trusting.upsert()
        #expect(trusting.open("op-0", proof: SessionProof.none) != nil, "local runs may trust sessions")
        #expect(trusting.open("op-1", proof: .pod(namespace: "ns", name: "op-0")) == nil, "a proof for another pod never counts")
    }

    @Test func podsThatCannotBePlacedAreToldWhy() throws {
        var d = Driver()
        d.upsert(Driver.config(shards: 1))
        let missing = try d.opened("gone", labels: nil)
        let unselected = try d.opened("other-0", labels: ["app": "other"])
        let noOrdinal = try d.opened("op", labels: ["app": "op"])
        let spare = try d.opened("op-1")
        for (session, expected) in [(missing, "does not exist"), (unselected, "no ShardingConfig in ns selects pod other-0"), (noOrdinal, "neither a StatefulSet ordinal")] {
            let messages = d.take(session)
            guard case .unassigned(let reason)? = messages.last else { Issue.record("got \(messages)"); continue }
            #expect(reason.contains(expected), "\(reason)")
        }
        let spareSpec = try d.lastSpec(spare)
        #expect(spareSpec.shard == "op-spare" && spareSpec.owned == ShardSpec.OwnedKeys())
        #expect(d.mesh?.unassigned["ns/op"] != nil)
    }

    /// A pod that stops being selected still enforces its last spec until it says it fenced:
    /// its slots go nowhere before that.
    @Test func anUnassignedMemberBlocksItsSlotsUntilItFences() throws {
        var d = Driver()
        d.upsert()
        let s0 = try d.opened("op-0")
        let all = try d.lastSpec(s0)
        d.ack("op-0", s0, all.epoch)

        let again = try d.opened("op-0", labels: ["app": "other"], applied: all)
        guard case .unassigned? = d.take(again).last else { Issue.record("not told it is unassigned"); return }
        let s1 = try d.opened("op-1")
        #expect(d.specs(s1).last?.owned.objectHashRanges.isEmpty == true, "op-0 may still write every slot")
        d.tick()
        #expect(d.specs(s1).isEmpty)

        d.perform(d.machine.fenced(member: "ns/op-0", session: again, now: d.now))
        let granted = try d.lastSpec(s1)
        #expect(granted.owned.objectHashRanges == [.all])
    }

    /// A changed config closes the namespace's sessions; until everyone has reported again,
    /// nothing is granted that a silent member might hold, and members keep their share, sent
    /// again with what changed.
    @Test func aChangedConfigWaitsForEveryMemberToReport() throws {
        var d = Driver()
        d.upsert()
        let sessions = ["op-0": try d.opened("op-0"), "op-1": try d.opened("op-1")]
        let applied = d.settle(sessions)
        #expect(applied["op-0"]?.owned.objectHashRanges.count == 1 && applied["op-1"]?.owned.objectHashRanges.count == 1)
        var changed = Driver.config()
        changed.setValue(["namespace": "ns", "name": "renamed-lock"], at: ["spec", "leaderElection"])
        d.upsert(changed)
        #expect(sessions.values.allSatisfy(d.closed.contains))
        let again0 = try d.opened("op-0", applied: applied["op-0"])
        let resent = d.specs(again0)
        #expect(resent.allSatisfy { $0.owned.objectHashRanges == applied["op-0"]?.owned.objectHashRanges })
        let again1 = try d.opened("op-1", applied: applied["op-1"])
        let resent1 = d.specs(again1)
        #expect(resent1.allSatisfy { $0.owned.objectHashRanges == applied["op-1"]?.owned.objectHashRanges })
        #expect(resent.last?.leaderElection?.name == "renamed-lock" && resent1.last?.leaderElection?.name == "renamed-lock")
    }

    @Test func lockChangesMarkTheStatusDirty() {
        var d = Driver()
        var object = Driver.config()
        object.setValue(["namespace": "ns", "name": "lock"], at: ["spec", "leaderElection"])
        d.upsert(object)
        _ = d.machine.takeDirty()
        d.machine.lockChanged(namespace: "ns", name: "unrelated")
        d.machine.lockChanged(namespace: "other", name: "lock---op-0")
        #expect(d.machine.takeDirty().isEmpty)
        d.machine.lockChanged(namespace: "ns", name: "lock---op-0")
        #expect(d.machine.takeDirty() == [Driver.key])
    }

    @Test func invalidConfigsAreReportedNotPlanned() {
        var d = Driver()
        var object = Driver.config()
        object.setValue(.int(3), at: ["spec", "sharding", "slots"])
        d.upsert(object)
        #expect(d.machine.takeDirty() == [Driver.key])
        #expect(d.machine.invalid[Driver.key]?.contains("spec.sharding.slots") == true && d.mesh == nil)
    }

    /// A new leader reads the assignment and the grant record from status and its members'
    /// reports: nothing moves, nothing is re-sent, nothing is recorded again.
    @Test func aNewLeaderAdoptsThePersistedAssignmentAndGrants() throws {
        var first = Driver()
        first.upsert()
        var sessions: [String: Int] = [:]
        for pod in ["op-0", "op-1", "op-2"] { sessions[pod] = try first.opened(pod) }
        let applied = first.settle(sessions)
        let mesh = try #require(first.mesh)
        #expect(mesh.planner.converged)
        var status: JSON = ["epoch": .number(String(mesh.planner.epoch)), "grants": mesh.recorded.json]
        var shards: [JSON] = []
        for shard in ["op-0", "op-1", "op-2"] {
            shards.append(["name": .string(shard), "targetSlots": .string(MeshConfig.slotText(mesh.planner.targetUnits(of: shard)))])
        }
        status.setValue(.array(shards), at: ["shards"])

        var second = Driver(accepting: false, term: 2)
        for pod in ["op-0", "op-1", "op-2"] {
            second.perform(second.machine.leaseObserved(namespace: "ns", pod: pod, holder: pod, renewTime: "t1", duration: .seconds(10), now: second.now))
        }
        second.upsert(Driver.config(status: status))
        #expect(second.open("op-0", applied: applied["op-0"]) == nil, "no session before the first full view")
        second.machine.startAccepting()
        let recordsBefore = second.records.count
        for pod in ["op-0", "op-1", "op-2"] {
            let session = try second.opened(pod, applied: applied[pod])
            #expect(second.take(session).isEmpty, "\(pod) already enforces its share")
        }
        #expect(second.mesh?.planner.grants == mesh.planner.grants && second.records.count == recordsBefore)
    }
}

/// Canary rollouts driven through the coordinator: steps, errors from the canary's proxy,
/// and a person's requests by annotation.
@Suite struct CoordinatorRolloutTests {
    typealias Driver = CoordinatorDriver

    static func config(request: String? = nil) -> JSON {
        var object = Driver.config()
        object.setValue(["selector": ["matchLabels": ["version": "v2"]], "steps": [["percent": 25], ["percent": 100]], "pause": "0s",
                         "analysis": ["maxErrorPercent": 20, "minRequests": 5, "window": "1m"]], at: ["spec", "canary"])
        if let request { object.setValue(["ctrlmesh.kruise.io/rollout-request": .string(request)], at: ["metadata", "annotations"]) }
        return object
    }

    /// Delivers every spec, acknowledges it and ticks, until `done` holds of the mesh.
    func settle(_ d: inout Driver, _ sessions: [String: Int], _ what: String, until done: (CoordinatorStateMachine.Mesh) -> Bool) {
        for _ in 0..<40 {
            _ = d.settle(sessions, rounds: 1)
            d.tick(after: .milliseconds(100))
            if let mesh = d.mesh, done(mesh) { return }
        }
        Issue.record("never \(what): \(String(describing: d.mesh?.rollout))")
    }

    func start(request: String? = nil) throws -> (Driver, [String: Int]) {
        var d = Driver()
        d.upsert(CoordinatorRolloutTests.config(request: request))
        let s0 = try d.opened("op-0")
        let s1 = try d.opened("op-v2", labels: ["app": "op", "version": "v2"])
        return (d, ["op-0": s0, "op-v2": s1])
    }

    static func owns(_ mesh: CoordinatorStateMachine.Mesh, canary: Int, stable: Int) -> Bool {
        mesh.planner.converged && mesh.planner.units(of: "op-canary").count == canary && mesh.planner.units(of: "op-0").count == stable
    }

    @Test func aHealthyCanaryTakesEveryStepToCompletion() throws {
        var (d, sessions) = try start()
        settle(&d, sessions, "completed") { $0.rollout?.phase == .completed && Self.owns($0, canary: 16, stable: 0) }
        #expect(d.mesh?.rollout?.step == 1)
        d.upsert(Driver.config())
        #expect(d.mesh?.rollout == nil, "the canary block removed: no rollout")
    }

    @Test func aFailingCanaryRollsBackAndAResumeStartsOver() throws {
        // Paused before the first step converges: the canary holds 25% of the 16 slots.
        var (d, sessions) = try start(request: "pause/1")
        settle(&d, sessions, "paused at 4 slots") { $0.rollout?.phase == .paused && Self.owns($0, canary: 4, stable: 12) }
        // Calls from a stable pod are not the canary's.
        d.machine.traffic(member: "ns/op-0", session: sessions["op-0"]!, requests: 50, errors: 50, now: d.now)
        d.tick()
        #expect(d.mesh?.rollout?.phase == .paused)
        d.machine.traffic(member: "ns/op-v2", session: sessions["op-v2"]!, requests: 10, errors: 4, now: d.now)
        settle(&d, sessions, "rolled back") { $0.rollout?.phase == .rolledBack && Self.owns($0, canary: 0, stable: 16) }
        #expect(d.mesh?.rollout?.message.contains("4 of 10 canary API calls failed (40% > 20%)") == true)
        // The same request again is not acted on twice; a new one is, and starts over.
        d.upsert(CoordinatorRolloutTests.config(request: "pause/1"))
        #expect(d.mesh?.rollout?.phase == .rolledBack)
        d.upsert(CoordinatorRolloutTests.config(request: "resume/2"))
        #expect(d.mesh?.rollout?.phase == .progressing && d.mesh?.rollout?.step == 0)
        settle(&d, sessions, "completed") { $0.rollout?.phase == .completed && Self.owns($0, canary: 16, stable: 0) }
        // Abort after completion hands everything back.
        d.upsert(CoordinatorRolloutTests.config(request: "abort/3"))
        settle(&d, sessions, "aborted") { $0.rollout?.phase == .aborted && Self.owns($0, canary: 0, stable: 16) }
    }

    @Test func aNewLeaderAdoptsTheRecordedRollout() {
        var object = CoordinatorRolloutTests.config(request: "pause/7")
        object.setValue(["phase": "Paused", "step": 2, "handledRequest": "pause/7"], at: ["status", "rollout"])
        var d = Driver()
        d.upsert(object)
        #expect(d.mesh?.rollout?.phase == .paused && d.mesh?.rollout?.step == 1, "status counts steps from 1")
        #expect(d.mesh?.planner.canaryUnits.count == 16)
    }
}
