import Foundation
import KubeModel
import MeshCore

/// A ShardingConfig's status as the coordinator sees it at one moment: per shard its members,
/// granted and target slots (or namespace sets), epoch and acknowledged epoch; members that
/// could not be placed; handovers; conditions. The target slots are what a new leader adopts.
struct MeshSnapshot: Sendable {
    var status: JSON
    /// The operator's lock, whose renamed Leases name each shard's leader.
    var lock: ShardSpec.LeaderElectionLock?

    init(mesh: CoordinatorStateMachine.Mesh) {
        let planner = mesh.planner
        let config = mesh.config
        var names = planner.liveShards.union(planner.target.compactMap { $0 })
        if case .namespaceSets(let sets) = config.mode { names.formUnion(sets.map(\.name)) }
        if planner.members.values.contains(where: { $0.shard == config.spareShardName }) { names.insert(config.spareShardName) }
        var shardsJSON: [JSON] = []
        var allAcked = true
        for name in names.sorted(by: MeshSnapshot.naturalOrder) {
            let spec = planner.shardSpecs[name]
            let members = planner.members.filter { $0.value.shard == name }.sorted { $0.key < $1.key }
            var memberJSON: [JSON] = []
            var acked: UInt64?
            for (id, member) in members {
                let pod = String(id.split(separator: "/", maxSplits: 1).last ?? "")
                let state: String
                if !member.reported { state = "Unreported" } else if !member.connected { state = "Disconnected" }
                else if let spec, member.ackedEpoch == spec.epoch, member.holdings == [spec] { state = "Ready" } else { state = "Pending" }
                if state != "Ready" { allAcked = false }
                var entry: JSON = ["pod": .string(pod), "state": .string(state)]
                if let epoch = member.ackedEpoch {
                    entry.setValue(.number(String(epoch)), at: ["ackedEpoch"])
                    if member.connected { acked = min(acked ?? epoch, epoch) }
                }
                memberJSON.append(entry)
            }
            let granted = planner.units(of: name)
            var shard: JSON = ["name": .string(name), "members": .array(memberJSON)]
            if let spec { shard.setValue(.number(String(spec.epoch)), at: ["epoch"]) }
            if let acked { shard.setValue(.number(String(acked)), at: ["ackedEpoch"]) }
            switch config.mode {
            case .objectHash, .namespaceHash:
                shard.setValue(.string(MeshConfig.slotText(granted)), at: ["slots"])
                shard.setValue(.string(MeshConfig.slotText(planner.targetUnits(of: name))), at: ["targetSlots"])
                shard.setValue(.array(MeshConfig.ranges(ofSlots: granted, slots: config.slots).map { .string($0.description) }), at: ["ranges"])
            case .namespaceSets:
                let owned = config.spec(shard: name, units: granted, epoch: 0).owned
                shard.setValue(.array(owned.namespaces.sorted().map { .string($0) }), at: ["namespaces"])
            }
            shardsJSON.append(shard)
        }
        let converged = planner.converged && allAcked
        let unplaced = mesh.unassigned.sorted { $0.key < $1.key }
        var conditions: [JSON] = [
            MeshSnapshot.condition("Ready", converged, converged ? "Converged" : "Converging",
                                   converged ? "every unit is owned by its target shard and acknowledged" : "handovers in progress"),
            MeshSnapshot.condition("Converging", !converged, converged ? "Converged" : "HandoverInProgress",
                                   "\(mesh.pendingMoves.count) unit moves pending"),
        ]
        let noMembers = planner.liveShards.isEmpty
        let degradedReason = !unplaced.isEmpty ? "UnplacedPods" : noMembers ? "NoMembers" : "AsExpected"
        conditions.append(MeshSnapshot.condition("Degraded", !unplaced.isEmpty || noMembers, degradedReason,
                                                 unplaced.map { "\($0.key): \($0.value)" }.joined(separator: "; ")))
        let durations = mesh.handoverTimes.sorted()
        var handovers: JSON = ["total": .int(mesh.handoverCount)]
        if !durations.isEmpty {
            handovers.setValue(.int(MeshSnapshot.milliseconds(durations[durations.count / 2])), at: ["p50Milliseconds"])
            handovers.setValue(.int(MeshSnapshot.milliseconds(durations[min(durations.count - 1, durations.count * 99 / 100)])),
                               at: ["p99Milliseconds"])
        }
        var rolloutJSON: JSON?
        if let rollout = mesh.rollout, let canary = config.canary {
            let held = config.canaryUnits(step: rollout.shareStep)
            let owned = planner.units(of: config.canaryShardName)
            var entry: JSON = [
                "phase": .string(rollout.phase.rawValue), "step": .int(rollout.step + 1), "steps": .int(canary.steps.count),
                "message": .string(rollout.message), "canaryShard": .string(config.canaryShardName),
                "targetSlots": .int(held.count), "ownedSlots": .int(owned.count),
                "sharePercent": .number(CanaryRollout.format(Double(owned.count) * 100 / Double(config.slots))),
            ]
            if let analysis = canary.analysis {
                var window = mesh.canaryErrors
                let errors = window.totals(over: analysis.window, at: .now)
                entry.setValue(["requests": .int(errors.requests), "errors": .int(errors.errors),
                                "percent": .number(CanaryRollout.format(errors.percent))], at: ["analysis"])
            }
            if let request = mesh.handledRequest { entry.setValue(.string(request), at: ["handledRequest"]) }
            rolloutJSON = entry
        }
        status = [
            "epoch": .number(String(planner.epoch)),
            "units": .int(config.unitCount),
            "shards": .array(shardsJSON),
            "unassigned": .array(unplaced.map { ["pod": .string($0.key), "reason": .string($0.value)] }),
            "handovers": handovers,
            "conditions": .array(conditions),
        ]
        status.setValue(rolloutJSON ?? .null, at: ["rollout"])  // null clears a removed canary's rollout
        lock = config.leaderElection
    }

    static func condition(_ type: String, _ value: Bool, _ reason: String, _ message: String) -> JSON {
        ["type": .string(type), "status": value ? "True" : "False", "reason": .string(reason), "message": .string(message)]
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// shard-2 before shard-10.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedAscending
    }
}
