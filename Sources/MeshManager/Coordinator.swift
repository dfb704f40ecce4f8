import KubeModel
import Logging
import MeshControl
import MeshCore

/// Everything the leading manager knows and decides, in one actor: the ShardingConfigs, each
/// with its `HandoverPlanner`; the open proxy sessions; member liveness. Events come in one at
/// a time (config and lease changes from informers, messages from sessions, the clock); after
/// each, the affected planners step and their sends go out on the sessions.
actor Coordinator {
    struct Session {
        let id: Int
        let pod: String
        let namespace: String
        let labels: [String: String]
        let outgoing: AsyncStream<ManagerMessage>.Continuation
        /// The config whose planner the member is in; nil while unassigned.
        var mesh: String?
    }

    struct Mesh {
        var config: MeshConfig
        var planner: HandoverPlanner
        /// Units whose target changed and that the new owner has not yet acknowledged.
        var pendingMoves: [Int: (from: String?, to: String, since: ContinuousClock.Instant)] = [:]
        /// Finished handovers (newest last, bounded): unit, shards, and how long the move took.
        var handovers: [Handover] = []
        var handoverCount = 0
        var unassigned: [String: String] = [:]
    }

    struct Handover: Sendable {
        var unit: Int
        var from: String?
        var to: String
        var duration: Duration
    }

    let logger: Logger
    let defaultLeaseDuration: Duration
    var meshes: [String: Mesh] = [:]
    /// Configs that failed validation, with the reason.
    var invalid: [String: String] = [:]
    var sessions: [String: Session] = [:]
    var liveness: MemberLiveness
    var nextSession = 0
    /// Configs whose status should be written.
    var dirty: Set<String> = []
    static let handoverHistory = 2000

    init(logger: Logger, skew: Duration = .seconds(2), defaultLeaseDuration: Duration = .seconds(10)) {
        self.logger = logger
        self.liveness = MemberLiveness(skew: skew)
        self.defaultLeaseDuration = defaultLeaseDuration
    }

    static func memberID(namespace: String, pod: String) -> String { "\(namespace)/\(pod)" }

    // MARK: Configs

    /// A ShardingConfig appeared or changed. A new one starts from the assignment and epoch its
    /// status recorded (a new leader adopts its predecessor's); a changed layout re-plans, and
    /// its members' sessions are closed so they report afresh against it.
    func configUpserted(key: String, object: JSON) {
        let config: MeshConfig
        do {
            config = try MeshConfig(object: object)
        } catch {
            invalid[key] = error.description
            logger.error("ShardingConfig \(key) is invalid: \(error)")
            dirty.insert(key)
            return
        }
        invalid[key] = nil
        if let existing = meshes[key] {
            guard existing.config != config else { return }
            let keepTarget = existing.config.unitCount == config.unitCount && existing.config.mode == config.mode
            meshes[key] = Mesh(config: config, planner: Coordinator.planner(for: config, target: keepTarget ? existing.planner.target : nil,
                                                                            epoch: existing.planner.epoch))
            for (id, session) in sessions where session.mesh == key || session.namespace == config.namespace {
                session.outgoing.finish()
                closed(member: id, session: session.id)
            }
        } else {
            let status = PersistedAssignment(status: object["status"], config: config)
            meshes[key] = Mesh(config: config, planner: Coordinator.planner(for: config, target: status.target, epoch: status.epoch))
            logger.info("ShardingConfig \(key): \(config.unitCount) units, adopting \(status.target == nil ? "no" : "the persisted") assignment at epoch \(status.epoch)")
            // Members that may hold this config's keys but have not reported yet.
            for id in liveness.knownMembers where sessions[id] == nil && id.hasPrefix(config.namespace + "/") {
                meshes[key]?.planner.memberAlive(id, shard: nil)
            }
            // Unassigned sessions may belong here now.
            for (id, session) in sessions where session.mesh == nil && session.namespace == config.namespace {
                session.outgoing.finish()
                closed(member: id, session: session.id)
            }
        }
        dirty.insert(key)
        step(key)
    }

    static func planner(for config: MeshConfig, target: [String?]?, epoch: UInt64) -> HandoverPlanner {
        switch config.mode {
        case .namespaceSets(let sets):
            return HandoverPlanner(unitCount: config.unitCount, targeting: .fixed(sets.map(\.name)), spareShard: config.spareShardName,
                                   epoch: epoch)
        case .objectHash, .namespaceHash:
            return HandoverPlanner(unitCount: config.unitCount, targeting: .balanced, spareShard: config.spareShardName,
                                   target: target, epoch: epoch)
        }
    }

    /// A ShardingConfig was deleted: its members are told they own nothing.
    func configDeleted(key: String) {
        invalid[key] = nil
        guard meshes.removeValue(forKey: key) != nil else { return }
        for (id, session) in sessions where session.mesh == key {
            session.outgoing.yield(.unassigned(reason: "ShardingConfig \(key) was deleted"))
            sessions[id]?.mesh = nil
        }
    }

    // MARK: Liveness

    /// A member lease as read. A lease whose holder was cleared was released by a proxy that
    /// had already fenced itself: the member is gone now.
    func leaseObserved(namespace: String, pod: String, holder: String, renewTime: String?, duration: Duration) {
        let id = Coordinator.memberID(namespace: namespace, pod: pod)
        if holder.isEmpty {
            memberGone(id, reason: "released its lease")
            return
        }
        let known = liveness.isKnown(id)
        liveness.observeLease(id, renewTime: renewTime, duration: duration, at: .now)
        if !known, sessions[id] == nil {
            // Alive but not (yet) reporting: it may hold anything of its namespace's meshes.
            for key in meshes.keys where meshes[key]!.config.namespace == namespace {
                meshes[key]?.planner.memberAlive(id, shard: nil)
            }
        }
    }

    /// Members whose liveness expired are gone; every planner steps.
    func tick() {
        for id in liveness.expired(at: .now) where sessions[id] == nil {
            memberGone(id, reason: "its lease expired")
        }
        for key in meshes.keys { step(key) }
    }

    func memberGone(_ id: String, reason: String) {
        liveness.forget(id)
        for key in meshes.keys where meshes[key]!.planner.members[id] != nil {
            logger.info("member \(id) left \(key): \(reason)")
            meshes[key]?.planner.died(id)
            dirty.insert(key)
        }
    }

    // MARK: Sessions

    /// A proxy registered. Returns the stream of messages for it and the session's id.
    func open(pod: String, namespace: String, labels: [String: String]?, applied: ShardSpec?) -> (Int, AsyncStream<ManagerMessage>) {
        let id = Coordinator.memberID(namespace: namespace, pod: pod)
        if let previous = sessions[id] {
            previous.outgoing.finish()
            closed(member: id, session: previous.id)
        }
        nextSession += 1
        let (stream, continuation) = AsyncStream<ManagerMessage>.makeStream()
        var session = Session(id: nextSession, pod: pod, namespace: namespace, labels: labels ?? [:], outgoing: continuation)
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: .now)
        guard let labels else {
            continuation.yield(.unassigned(reason: "pod \(namespace)/\(pod) does not exist"))
            sessions[id] = session
            forgetElsewhere(id, except: nil)
            return (session.id, stream)
        }
        let matching = meshes.filter { $0.value.config.namespace == namespace && $0.value.config.podSelector.matches(labels) }
            .keys.sorted()
        guard let key = matching.first, let mesh = meshes[key] else {
            continuation.yield(.unassigned(reason: "no ShardingConfig in \(namespace) selects pod \(pod)"))
            sessions[id] = session
            forgetElsewhere(id, except: nil)
            return (session.id, stream)
        }
        if matching.count > 1 { logger.warning("pod \(id) is selected by \(matching.joined(separator: ", ")); \(key) wins") }
        let shard: String
        switch mesh.config.placement(podName: pod, labels: labels) {
        case .shard(let name): shard = name
        case .spare: shard = mesh.config.spareShardName
        case nil:
            let reason = "pod \(pod) has neither a StatefulSet ordinal nor the \(MeshConfig.shardIndexLabel) label"
            continuation.yield(.unassigned(reason: reason))
            meshes[key]?.unassigned[id] = reason
            sessions[id] = session
            forgetElsewhere(id, except: nil)
            dirty.insert(key)
            return (session.id, stream)
        }
        session.mesh = key
        sessions[id] = session
        forgetElsewhere(id, except: key)
        meshes[key]?.unassigned[id] = nil
        let holding = applied.map { HandoverPlanner.Holding(shard: $0.shard, epoch: $0.epoch, units: mesh.config.units(of: $0)) }
        meshes[key]?.planner.registered(id, shard: shard, applied: holding)
        logger.info("member \(id) registered in \(key) as \(shard) enforcing \(applied.map { "\($0.shard) epoch \($0.epoch)" } ?? "nothing")")
        dirty.insert(key)
        step(key)
        return (session.id, stream)
    }

    /// A registered member belongs to one mesh at most: elsewhere it holds nothing.
    func forgetElsewhere(_ id: String, except key: String?) {
        for other in meshes.keys where other != key && meshes[other]!.planner.members[id] != nil {
            meshes[other]?.planner.died(id)
            meshes[other]?.unassigned[id] = nil
            dirty.insert(other)
        }
    }

    func acknowledged(member id: String, session: Int, epoch: UInt64) {
        guard let current = sessions[id], current.id == session else { return }
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: .now)
        guard let key = current.mesh else { return }
        meshes[key]?.planner.acknowledged(id, epoch: epoch)
        finishMoves(key)
        dirty.insert(key)
        step(key)
    }

    func heartbeat(member id: String, session: Int) {
        guard sessions[id]?.id == session else { return }
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: .now)
    }

    func closed(member id: String, session: Int) {
        guard let current = sessions[id], current.id == session else { return }
        sessions[id] = nil
        guard let key = current.mesh else { return }
        meshes[key]?.planner.disconnected(id)
        dirty.insert(key)
        logger.info("member \(id) disconnected from \(key)")
    }

    // MARK: Stepping

    func step(_ key: String) {
        guard var mesh = meshes[key] else { return }
        let before = mesh.planner.target
        let sends = mesh.planner.step()
        let now = ContinuousClock.now
        for unit in before.indices where before[unit] != mesh.planner.target[unit] {
            // A first assignment is not a handover; a move from a live or dead shard is.
            if let from = before[unit], let to = mesh.planner.target[unit] { mesh.pendingMoves[unit] = (from, to, now) }
        }
        meshes[key] = mesh
        for send in sends {
            let spec = mesh.config.spec(shard: send.spec.shard, units: send.spec.units, epoch: send.spec.epoch)
            sessions[send.member]?.outgoing.yield(.spec(spec))
        }
        if !sends.isEmpty { dirty.insert(key) }
        finishMoves(key)
    }

    /// Moves whose new owner has every connected member acknowledging a spec that grants them.
    func finishMoves(_ key: String) {
        guard var mesh = meshes[key], !mesh.pendingMoves.isEmpty else { return }
        let now = ContinuousClock.now
        for (unit, move) in mesh.pendingMoves {
            guard mesh.planner.target[unit] == move.to else {
                mesh.pendingMoves[unit] = nil
                continue
            }
            guard let spec = mesh.planner.shardSpecs[move.to], spec.units.contains(unit) else { continue }
            let owners = mesh.planner.members.values.filter { $0.shard == move.to && $0.connected }
            guard !owners.isEmpty, owners.allSatisfy({ $0.ackedEpoch == spec.epoch }) else { continue }
            mesh.pendingMoves[unit] = nil
            mesh.handoverCount += 1
            mesh.handovers.append(Handover(unit: unit, from: move.from, to: move.to, duration: now - move.since))
        }
        if mesh.handovers.count > Coordinator.handoverHistory { mesh.handovers.removeFirst(mesh.handovers.count - Coordinator.handoverHistory) }
        meshes[key] = mesh
    }

    // MARK: Reading

    /// Takes the configs whose status should be written, with what to write.
    func takeDirty() -> [(key: String, snapshot: MeshSnapshot?, invalid: String?)] {
        let keys = dirty
        dirty = []
        return keys.sorted().map { key in
            (key, meshes[key].map { MeshSnapshot(mesh: $0) }, invalid[key])
        }
    }

    /// Closes every session (leadership ended).
    func shutdown() {
        for session in sessions.values { session.outgoing.finish() }
        sessions = [:]
    }
}
