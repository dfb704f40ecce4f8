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
        let namespace: String
        let outgoing: AsyncStream<ManagerMessage>.Continuation
        /// The config whose planner the member is in; nil while unassigned.
        var mesh: String?
    }

    struct Mesh {
        var config: MeshConfig
        var planner: HandoverPlanner
        /// Units whose target moved to another shard that has not yet acknowledged them.
        var pendingMoves: [Int: (to: String, since: ContinuousClock.Instant)] = [:]
        /// How long the last finished handovers took (newest last, bounded), and how many there were.
        var handoverTimes: [Duration] = []
        var handoverCount = 0
        var unassigned: [String: String] = [:]
        /// The canary rollout, when the config has a canary.
        var rollout: CanaryRollout?
        /// The canary's API calls, as its proxies report them.
        var canaryErrors = ErrorWindow()
        /// The last rollout request (pause, resume, abort) acted on, by its id.
        var handledRequest: String?
    }

    let logger: Logger
    let defaultLeaseDuration: Duration
    var meshes: [String: Mesh] = [:]
    /// Configs that failed validation, with the reason.
    var invalid: [String: String] = [:]
    var sessions: [String: Session] = [:]
    var liveness: MemberLiveness
    var nextSession = 0
    /// Sessions are accepted only between the first full view of configs and leases (a proxy
    /// registering earlier would be judged against no config) and the end of leadership.
    var accepting = false
    /// Configs whose status should be written.
    var dirty: Set<String> = []
    static let handoverHistory = 2000

    /// `defaultLeaseDuration` bounds a member heard from before its lease has been seen. It is
    /// long on purpose: only the lease's own duration is a safe bound, and it may be longer
    /// than any default.
    init(logger: Logger, skew: Duration = .seconds(2), defaultLeaseDuration: Duration = .seconds(120)) {
        self.logger = logger
        self.liveness = MemberLiveness(skew: skew)
        self.defaultLeaseDuration = defaultLeaseDuration
    }

    static func memberID(namespace: String, pod: String) -> String { "\(namespace)/\(pod)" }

    // MARK: Configs

    /// A ShardingConfig appeared or changed. A new one starts from the assignment and epoch its
    /// status recorded (a new leader adopts its predecessor's); a changed one re-plans, keeping
    /// the target when the layout is the same.
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
        let request = RolloutRequest(annotations: object["metadata"]?["annotations"])
        var mesh: Mesh
        if let existing = meshes[key] {
            guard existing.config != config else { return handle(request, in: key) }
            let keepTarget = existing.config.unitCount == config.unitCount && existing.config.mode == config.mode
            mesh = Mesh(config: config, planner: Coordinator.planner(for: config, target: keepTarget ? existing.planner.target : nil,
                                                                     epoch: existing.planner.epoch))
            logger.info("ShardingConfig \(key) changed: re-planning")
            mesh.handledRequest = existing.handledRequest
            // The same canary keeps its rollout and what it was judged on; a new one starts over.
            if let canary = config.canary {
                let same = existing.config.canary == canary
                mesh.rollout = same ? existing.rollout : CanaryRollout(canary: canary)
                if same { mesh.canaryErrors = existing.canaryErrors }
            }
        } else {
            let status = PersistedAssignment(status: object["status"], config: config)
            mesh = Mesh(config: config, planner: Coordinator.planner(for: config, target: status.target, epoch: status.epoch))
            logger.info("ShardingConfig \(key): \(config.unitCount) units, adopting \(status.target == nil ? "no" : "the persisted") assignment at epoch \(status.epoch)")
            let persisted = PersistedRollout(status: object["status"])
            mesh.handledRequest = persisted.handledRequest
            if let canary = config.canary {
                mesh.rollout = persisted.rollout(for: canary)
            }
        }
        mesh.planner.canaryUnits = config.canaryUnits(step: mesh.rollout?.shareStep)
        meshes[key] = mesh
        // Every member of the namespace may enforce a spec of this config (an earlier version of
        // it, or its earlier incarnation) until it reports: they count as unreported, and their
        // sessions are closed so that they report afresh against the config as it is now.
        let prefix = config.namespace + "/"
        for id in Set(liveness.knownMembers + Array(sessions.keys)) where id.hasPrefix(prefix) {
            meshes[key]?.planner.memberAlive(id, shard: nil)
        }
        for (id, session) in sessions where session.namespace == config.namespace {
            session.outgoing.finish()
            closed(member: id, session: session.id)
        }
        dirty.insert(key)
        step(key)
        handle(request, in: key)
    }

    static func planner(for config: MeshConfig, target: [String?]?, epoch: UInt64) -> HandoverPlanner {
        switch config.mode {
        case .namespaceSets(let sets):
            return HandoverPlanner(unitCount: config.unitCount, targeting: .fixed(sets.map(\.name)), spareShard: config.spareShardName,
                                   epoch: epoch, revision: config.specRevision)
        case .objectHash, .namespaceHash:
            return HandoverPlanner(unitCount: config.unitCount, targeting: .balanced, spareShard: config.spareShardName,
                                   canaryShard: config.canary == nil ? nil : config.canaryShardName, target: target, epoch: epoch,
                                   revision: config.specRevision)
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

    /// Members whose liveness expired are gone, and canary rollouts take their timed steps.
    /// (Every other change steps where it happens.)
    func tick() {
        for id in liveness.expired(at: .now) where sessions[id] == nil {
            memberGone(id, reason: "its lease expired")
        }
        for key in meshes.keys where meshes[key]?.rollout?.isUnderWay == true { advanceRollout(key) }
    }

    /// The member holds nothing any more: the configs it was in may grant what it held.
    func memberGone(_ id: String, reason: String) {
        liveness.forget(id)
        for key in meshes.keys where meshes[key]!.planner.members[id] != nil {
            logger.info("member \(id) left \(key): \(reason)")
            meshes[key]?.planner.died(id)
            dirty.insert(key)
            step(key)
        }
    }

    /// A Lease that is not a member's changed: when it is a shard's renamed lock, the config's
    /// status (its shards' leaders) is rewritten.
    func lockChanged(namespace: String, name: String) {
        for (key, mesh) in meshes {
            guard let lock = mesh.config.leaderElection, lock.resource == "leases", lock.namespace == namespace,
                  name.hasPrefix(LeaderLockRename.shardLockName(lock.name, shard: "")) else { continue }
            dirty.insert(key)
        }
    }

    // MARK: Sessions

    /// A proxy registered. Returns the stream of messages for it and the session's id. A proxy
    /// that cannot be placed is told it is unassigned; until it reports that it fenced, the
    /// spec it enforces still counts wherever it could matter.
    /// Returns nil while sessions are not accepted.
    func open(pod: String, namespace: String, labels: [String: String]?, applied: ShardSpec?) -> (Int, AsyncStream<ManagerMessage>)? {
        guard accepting else { return nil }
        let id = Coordinator.memberID(namespace: namespace, pod: pod)
        if let previous = sessions[id] {
            previous.outgoing.finish()
            closed(member: id, session: previous.id)
        }
        nextSession += 1
        let (stream, continuation) = AsyncStream<ManagerMessage>.makeStream()
        var session = Session(id: nextSession, namespace: namespace, outgoing: continuation)
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: .now)
        let (placement, reason, unplacedIn) = place(pod: pod, namespace: namespace, labels: labels)
        // Elsewhere in the namespace the member is no shard's, but may still enforce its spec.
        for key in meshes.keys where meshes[key]!.config.namespace == namespace && key != placement?.key {
            holdElsewhere(id, in: key, applied: applied)
        }
        if let unplacedIn, let reason { meshes[unplacedIn]?.unassigned[id] = reason }
        guard let placement, let mesh = meshes[placement.key] else {
            continuation.yield(.unassigned(reason: reason ?? "not placed"))
            sessions[id] = session
            return (session.id, stream)
        }
        session.mesh = placement.key
        sessions[id] = session
        let holding = applied.map {
            HandoverPlanner.Holding(shard: $0.shard, epoch: $0.epoch, units: mesh.config.units(of: $0), revision: MeshConfig.revision(of: $0))
        }
        meshes[placement.key]?.planner.registered(id, shard: placement.shard, applied: holding)
        logger.info("member \(id) registered in \(placement.key) as \(placement.shard) enforcing \(applied.map { "\($0.shard) epoch \($0.epoch)" } ?? "nothing")")
        dirty.insert(placement.key)
        step(placement.key)
        return (session.id, stream)
    }

    /// The mesh and shard a pod belongs to, or why it belongs to none (and the mesh that
    /// selects it without being able to place it).
    func place(pod: String, namespace: String, labels: [String: String]?) -> ((key: String, shard: String)?, String?, String?) {
        guard let labels else { return (nil, "pod \(namespace)/\(pod) does not exist", nil) }
        let matching = meshes.filter { $0.value.config.namespace == namespace && $0.value.config.podSelector.matches(labels) }
            .keys.sorted()
        guard let key = matching.first, let mesh = meshes[key] else {
            return (nil, "no ShardingConfig in \(namespace) selects pod \(pod)", nil)
        }
        if matching.count > 1 { logger.warning("pod \(namespace)/\(pod) is selected by \(matching.joined(separator: ", ")); \(key) wins") }
        switch mesh.config.placement(podName: pod, labels: labels) {
        case .shard(let name): return ((key, name), nil, nil)
        case .spare: return ((key, mesh.config.spareShardName), nil, nil)
        case nil: return (nil, "pod \(pod) has neither a StatefulSet ordinal nor the \(MeshConfig.shardIndexLabel) label", key)
        }
    }

    /// In a mesh the member is not placed in, the spec it reported (read in that mesh's units)
    /// keeps counting until it acknowledges another spec or reports that it fenced.
    func holdElsewhere(_ id: String, in key: String, applied: ShardSpec?) {
        guard var mesh = meshes[key] else { return }
        let units = applied.map { mesh.config.units(of: $0) } ?? []
        if let applied, !units.isEmpty {
            mesh.planner.registered(id, shard: nil, applied: HandoverPlanner.Holding(shard: applied.shard, epoch: applied.epoch, units: units,
                                                                                      revision: MeshConfig.revision(of: applied)))
        } else if mesh.planner.members[id] != nil {
            mesh.planner.died(id)
        }
        mesh.unassigned[id] = nil
        meshes[key] = mesh
        dirty.insert(key)
        step(key)
    }

    /// The member's proxy no longer enforces the spec it held when it registered (it applied
    /// a newer one, or fenced): it holds nothing in the meshes it is not placed in.
    func releaseElsewhere(_ id: String, except key: String?) {
        for other in meshes.keys where other != key {
            guard let member = meshes[other]!.planner.members[id], member.shard == nil, member.reported else { continue }
            meshes[other]?.planner.died(id)
            dirty.insert(other)
            step(other)
        }
    }

    /// The proxy fenced on being told it is unassigned.
    func fenced(member id: String, session: Int) {
        guard let current = sessions[id], current.id == session, current.mesh == nil else { return }
        releaseElsewhere(id, except: nil)
    }

    func acknowledged(member id: String, session: Int, epoch: UInt64) {
        guard let current = sessions[id], current.id == session else { return }
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: .now)
        guard let key = current.mesh else { return }
        meshes[key]?.planner.acknowledged(id, epoch: epoch)
        if meshes[key]?.planner.members[id]?.ackedEpoch == epoch { releaseElsewhere(id, except: key) }
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
            if before[unit] != nil, let to = mesh.planner.target[unit] { mesh.pendingMoves[unit] = (to, now) }
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
            mesh.handoverTimes.append(now - move.since)
        }
        if mesh.handoverTimes.count > Coordinator.handoverHistory {
            mesh.handoverTimes.removeFirst(mesh.handoverTimes.count - Coordinator.handoverHistory)
        }
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

    /// Every config and lease of the informers' first lists has been taken in.
    func startAccepting() {
        accepting = true
    }

    /// Closes every session and refuses new ones (leadership ended).
    func shutdown() {
        accepting = false
        for session in sessions.values { session.outgoing.finish() }
        sessions = [:]
    }
}
