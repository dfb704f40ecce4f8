import KubeModel

/// Everything the leading manager knows and decides, free of I/O: the ShardingConfigs, each
/// with its `HandoverPlanner`; the open proxy sessions; member liveness; the grant records at
/// the API server. Each event (a config or lease as the informers saw it, a message on a
/// session, the clock) changes the state and returns the actions to perform; the time is
/// passed in.
///
/// The rules beyond the planner's:
/// - a member is dead once its liveness expired, whether or not its session is still open
///   (a paused proxy keeps its TCP connection): the session is closed and its units go;
/// - a spec that grants a unit is held back until the grant is recorded at the API server,
///   so the fence there refuses the old owner's late writes before the new owner can write;
/// - a session speaks only for the pod it proved to be (unless sessions are trusted).
public struct CoordinatorStateMachine: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public struct Session: Sendable, Equatable {
        public let id: Int
        public let namespace: String
        /// The config whose planner the member is in; nil while unassigned.
        public var mesh: String?
    }

    public struct Mesh: Sendable {
        public var config: MeshConfig
        public var planner: HandoverPlanner
        /// Units whose target moved to another shard that has not yet acknowledged them.
        public var pendingMoves: [Int: (to: String, since: Instant)] = [:]
        /// How long the last finished handovers took (newest last, bounded), and how many there were.
        public var handoverTimes: [Duration] = []
        public var handoverCount = 0
        public var unassigned: [String: String] = [:]
        /// The canary rollout, when the config has a canary.
        public var rollout: CanaryRollout?
        /// The canary's API calls, as its proxies report them.
        public var canaryErrors = ErrorWindow()
        /// The last rollout request (pause, resume, abort) acted on, by its id.
        public var handledRequest: String?
        /// The grant record the API server holds, as last written or read.
        public var recorded: ShardGrants
        /// A record write is under way.
        var recording = false
        /// Specs that grant units not yet recorded, per member: sent once the record is.
        var held: [String: HandoverPlanner.Holding] = [:]

        init(config: MeshConfig, planner: HandoverPlanner, recorded: ShardGrants) {
            self.config = config
            self.planner = planner
            self.recorded = recorded
        }
    }

    /// `defaultLeaseDuration` bounds a member heard from before its lease has been seen. It is
    /// long on purpose: only the lease's own duration is a safe bound, and it may be longer
    /// than any default.
    public let defaultLeaseDuration: Duration
    /// Accept sessions that proved nothing (local runs only).
    public let trustsSessions: Bool
    /// The manager's leadership term: grant records it writes carry it.
    public let term: UInt64
    public internal(set) var meshes: [String: Mesh] = [:]
    /// Configs that failed validation, with the reason.
    public internal(set) var invalid: [String: String] = [:]
    public internal(set) var sessions: [String: Session] = [:]
    var liveness: MemberLiveness
    var nextSession = 0
    /// Sessions are accepted only between the first full view of configs and leases (a proxy
    /// registering earlier would be judged against no config) and the end of leadership.
    public internal(set) var accepting = false
    /// Configs whose status should be written.
    var dirty: Set<String> = []
    static let handoverHistory = 2000

    public init(skew: Duration = .seconds(2), defaultLeaseDuration: Duration = .seconds(120), trustsSessions: Bool = false, term: UInt64 = 0) {
        self.liveness = MemberLiveness(skew: skew)
        self.defaultLeaseDuration = defaultLeaseDuration
        self.trustsSessions = trustsSessions
        self.term = term
    }

    public static func memberID(namespace: String, pod: String) -> String { "\(namespace)/\(pod)" }

    // MARK: Configs

    /// A ShardingConfig appeared or changed. A new one starts from the assignment, epoch and
    /// grants its status recorded (a new leader adopts its predecessor's); a changed one
    /// re-plans, keeping the target when the layout is the same.
    public mutating func configUpserted(key: String, object: JSON, now: Instant) -> [CoordinatorAction] {
        var actions: [CoordinatorAction] = []
        let config: MeshConfig
        do {
            config = try MeshConfig(object: object)
        } catch {
            invalid[key] = error.description
            dirty.insert(key)
            return [.log(.error, "ShardingConfig \(key) is invalid: \(error)")]
        }
        invalid[key] = nil
        let request = RolloutRequest(annotations: object["metadata"]?["annotations"])
        var mesh: Mesh
        if let existing = meshes[key] {
            guard existing.config != config else { return handle(request, in: key, now: now) }
            let keepTarget = existing.config.unitCount == config.unitCount && existing.config.mode == config.mode
            // Grants stay as recorded only for the same units; another layout starts with none
            // (the fence then refuses every write until the new grants are recorded).
            let grants = keepTarget ? existing.planner.grants : [:]
            mesh = Mesh(config: config,
                        planner: CoordinatorStateMachine.planner(for: config, target: keepTarget ? existing.planner.target : nil,
                                                                 epoch: existing.planner.epoch, grants: grants),
                        recorded: existing.recorded)
            actions.append(.log(.info, "ShardingConfig \(key) changed: re-planning"))
            mesh.handledRequest = existing.handledRequest
            // The same canary keeps its rollout and what it was judged on; a new one starts over.
            if let canary = config.canary {
                let same = existing.config.canary == canary
                mesh.rollout = same ? existing.rollout : CanaryRollout(canary: canary)
                if same { mesh.canaryErrors = existing.canaryErrors }
            }
        } else {
            let status = PersistedAssignment(status: object["status"], config: config)
            let recorded = ShardGrants(json: object["status"]?["grants"], unitCount: config.unitCount) ?? ShardGrants()
            mesh = Mesh(config: config,
                        planner: CoordinatorStateMachine.planner(for: config, target: status.target, epoch: status.epoch,
                                                                 grants: recorded.units),
                        recorded: recorded)
            actions.append(.log(.info, "ShardingConfig \(key): \(config.unitCount) units, adopting \(status.target == nil ? "no" : "the persisted") assignment at epoch \(status.epoch)"))
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
            actions.append(.close(session: session.id))
            actions += closed(member: id, session: session.id)
        }
        dirty.insert(key)
        actions += step(key, now: now)
        actions += handle(request, in: key, now: now)
        return actions
    }

    static func planner(for config: MeshConfig, target: [String?]?, epoch: UInt64, grants: [Int: ShardGrants.Grant]) -> HandoverPlanner {
        switch config.mode {
        case .namespaceSets(let sets):
            return HandoverPlanner(unitCount: config.unitCount, targeting: .fixed(sets.map(\.name)), spareShard: config.spareShardName,
                                   epoch: epoch, revision: config.specRevision, grants: grants)
        case .objectHash, .namespaceHash:
            return HandoverPlanner(unitCount: config.unitCount, targeting: .balanced, spareShard: config.spareShardName,
                                   canaryShard: config.canary == nil ? nil : config.canaryShardName, target: target, epoch: epoch,
                                   revision: config.specRevision, grants: grants)
        }
    }

    /// A ShardingConfig was deleted: its members are told they own nothing.
    public mutating func configDeleted(key: String) -> [CoordinatorAction] {
        invalid[key] = nil
        guard meshes.removeValue(forKey: key) != nil else { return [] }
        var actions: [CoordinatorAction] = []
        for (id, session) in sessions.sorted(by: { $0.key < $1.key }) where session.mesh == key {
            actions.append(.sendUnassigned(session: session.id, reason: "ShardingConfig \(key) was deleted"))
            sessions[id]?.mesh = nil
        }
        return actions
    }

    // MARK: Liveness

    /// A member lease as read. A lease whose holder was cleared was released by a proxy that
    /// had already fenced itself: the member is gone now.
    public mutating func leaseObserved(namespace: String, pod: String, holder: String, renewTime: String?, duration: Duration,
                                       now: Instant) -> [CoordinatorAction] {
        let id = CoordinatorStateMachine.memberID(namespace: namespace, pod: pod)
        if holder.isEmpty { return memberGone(id, reason: "released its lease", now: now) }
        let known = liveness.isKnown(id)
        liveness.observeLease(id, renewTime: renewTime, duration: duration, at: now)
        if !known, sessions[id] == nil {
            // Alive but not (yet) reporting: it may hold anything of its namespace's meshes.
            for key in meshes.keys where meshes[key]!.config.namespace == namespace {
                meshes[key]?.planner.memberAlive(id, shard: nil)
            }
        }
        return []
    }

    /// Members whose liveness expired are dead, open session or not (a paused process keeps
    /// its connection), and canary rollouts take their timed steps. (Every other change steps
    /// where it happens.)
    public mutating func tick(now: Instant) -> [CoordinatorAction] {
        var actions: [CoordinatorAction] = []
        for id in liveness.expired(at: now) {
            if let session = sessions.removeValue(forKey: id) {
                actions.append(.close(session: session.id))
                if let key = session.mesh { meshes[key]?.held[id] = nil }
                actions.append(.log(.warning, "member \(id) has not renewed its lease nor answered on its session: closing the session"))
            }
            actions += memberGone(id, reason: "its lease expired", now: now)
        }
        for key in meshes.keys.sorted() where meshes[key]?.rollout?.isUnderWay == true { actions += advanceRollout(key, now: now) }
        return actions
    }

    /// The member holds nothing any more: the configs it was in may grant what it held.
    mutating func memberGone(_ id: String, reason: String, now: Instant) -> [CoordinatorAction] {
        liveness.forget(id)
        var actions: [CoordinatorAction] = []
        for key in meshes.keys.sorted() where meshes[key]!.planner.members[id] != nil {
            actions.append(.log(.info, "member \(id) left \(key): \(reason)"))
            meshes[key]?.held[id] = nil
            meshes[key]?.planner.died(id)
            dirty.insert(key)
            actions += step(key, now: now)
        }
        return actions
    }

    /// A Lease that is not a member's changed: when it is a shard's renamed lock, the config's
    /// status (its shards' leaders) is rewritten.
    public mutating func lockChanged(namespace: String, name: String) {
        for (key, mesh) in meshes {
            guard let lock = mesh.config.leaderElection, lock.resource == "leases", lock.namespace == namespace,
                  name.hasPrefix(LeaderLockRename.shardLockName(lock.name, shard: "")) else { continue }
            dirty.insert(key)
        }
    }

    // MARK: Sessions

    /// What opening a session came to.
    public enum Opening: Sendable, Equatable {
        case opened(session: Int)
        /// Not accepted now (starting, or no longer leading): the proxy tries again.
        case unavailable(String)
        /// The session did not prove it speaks for the pod it names.
        case refused(String)
    }

    /// A proxy registered for a pod. A proxy that cannot be placed is told it is unassigned;
    /// until it reports that it fenced, the spec it enforces still counts wherever it could
    /// matter. A session that did not prove it is that pod changes nothing.
    public mutating func open(pod: String, namespace: String, proof: SessionProof, labels: [String: String]?, applied: ShardSpec?,
                              now: Instant) -> (Opening, [CoordinatorAction]) {
        guard accepting else { return (.unavailable("this mesh manager is starting or stopping"), []) }
        switch proof {
        case .pod(let provedNamespace, let provedName) where provedNamespace == namespace && provedName == pod:
            break
        case .pod(let provedNamespace, let provedName):
            return (.refused("the session proved it is pod \(provedNamespace)/\(provedName), not \(namespace)/\(pod)"), [])
        case .none where trustsSessions:
            break
        case .none:
            return (.refused("the session did not prove which pod it is"), [])
        }
        var actions: [CoordinatorAction] = []
        let id = CoordinatorStateMachine.memberID(namespace: namespace, pod: pod)
        if let previous = sessions[id] {
            actions.append(.close(session: previous.id))
            actions += closed(member: id, session: previous.id)
        }
        nextSession += 1
        var session = Session(id: nextSession, namespace: namespace)
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: now)
        let (placement, reason, unplacedIn) = place(pod: pod, namespace: namespace, labels: labels, actions: &actions)
        // Elsewhere in the namespace the member is no shard's, but may still enforce its spec.
        for key in meshes.keys.sorted() where meshes[key]!.config.namespace == namespace && key != placement?.key {
            actions += holdElsewhere(id, in: key, applied: applied, now: now)
        }
        if let unplacedIn, let reason { meshes[unplacedIn]?.unassigned[id] = reason }
        guard let placement, let mesh = meshes[placement.key] else {
            actions.append(.sendUnassigned(session: session.id, reason: reason ?? "not placed"))
            sessions[id] = session
            return (.opened(session: session.id), actions)
        }
        session.mesh = placement.key
        sessions[id] = session
        let holding = applied.map {
            HandoverPlanner.Holding(shard: $0.shard, epoch: $0.epoch, units: mesh.config.units(of: $0), revision: MeshConfig.revision(of: $0))
        }
        meshes[placement.key]?.planner.registered(id, shard: placement.shard, applied: holding)
        actions.append(.log(.info, "member \(id) registered in \(placement.key) as \(placement.shard) enforcing \(applied.map { "\($0.shard) epoch \($0.epoch)" } ?? "nothing")"))
        dirty.insert(placement.key)
        actions += step(placement.key, now: now)
        return (.opened(session: session.id), actions)
    }

    /// The mesh and shard a pod belongs to, or why it belongs to none (and the mesh that
    /// selects it without being able to place it).
    func place(pod: String, namespace: String, labels: [String: String]?,
               actions: inout [CoordinatorAction]) -> ((key: String, shard: String)?, String?, String?) {
        guard let labels else { return (nil, "pod \(namespace)/\(pod) does not exist", nil) }
        let matching = meshes.filter { $0.value.config.namespace == namespace && $0.value.config.podSelector.matches(labels) }
            .keys.sorted()
        guard let key = matching.first, let mesh = meshes[key] else {
            return (nil, "no ShardingConfig in \(namespace) selects pod \(pod)", nil)
        }
        if matching.count > 1 {
            actions.append(.log(.warning, "pod \(namespace)/\(pod) is selected by \(matching.joined(separator: ", ")); \(key) wins"))
        }
        switch mesh.config.placement(podName: pod, labels: labels) {
        case .shard(let name): return ((key, name), nil, nil)
        case .spare: return ((key, mesh.config.spareShardName), nil, nil)
        case nil: return (nil, "pod \(pod) has neither a StatefulSet ordinal nor the \(MeshConfig.shardIndexLabel) label", key)
        }
    }

    /// In a mesh the member is not placed in, the spec it reported (read in that mesh's units)
    /// keeps counting until it acknowledges another spec or reports that it fenced.
    mutating func holdElsewhere(_ id: String, in key: String, applied: ShardSpec?, now: Instant) -> [CoordinatorAction] {
        guard var mesh = meshes[key] else { return [] }
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
        return step(key, now: now)
    }

    /// The member's proxy no longer enforces the spec it held when it registered (it applied
    /// a newer one, or fenced): it holds nothing in the meshes it is not placed in.
    mutating func releaseElsewhere(_ id: String, except key: String?, now: Instant) -> [CoordinatorAction] {
        var actions: [CoordinatorAction] = []
        for other in meshes.keys.sorted() where other != key {
            guard let member = meshes[other]!.planner.members[id], member.shard == nil, member.reported else { continue }
            meshes[other]?.planner.died(id)
            dirty.insert(other)
            actions += step(other, now: now)
        }
        return actions
    }

    /// The proxy fenced on being told it is unassigned.
    public mutating func fenced(member id: String, session: Int, now: Instant) -> [CoordinatorAction] {
        guard let current = sessions[id], current.id == session, current.mesh == nil else { return [] }
        return releaseElsewhere(id, except: nil, now: now)
    }

    public mutating func acknowledged(member id: String, session: Int, epoch: UInt64, now: Instant) -> [CoordinatorAction] {
        guard let current = sessions[id], current.id == session else { return [] }
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: now)
        guard let key = current.mesh else { return [] }
        meshes[key]?.planner.acknowledged(id, epoch: epoch)
        var actions: [CoordinatorAction] = []
        if meshes[key]?.planner.members[id]?.ackedEpoch == epoch { actions += releaseElsewhere(id, except: key, now: now) }
        dirty.insert(key)
        actions += step(key, now: now)
        return actions
    }

    public mutating func heartbeat(member id: String, session: Int, now: Instant) {
        guard sessions[id]?.id == session else { return }
        liveness.heardFrom(id, duration: defaultLeaseDuration, at: now)
    }

    /// The session ended (the shell saw its stream end).
    public mutating func closed(member id: String, session: Int) -> [CoordinatorAction] {
        guard let current = sessions[id], current.id == session else { return [] }
        sessions[id] = nil
        guard let key = current.mesh else { return [] }
        meshes[key]?.held[id] = nil
        meshes[key]?.planner.disconnected(id)
        dirty.insert(key)
        return [.log(.info, "member \(id) disconnected from \(key)")]
    }

    // MARK: Stepping

    mutating func step(_ key: String, now: Instant) -> [CoordinatorAction] {
        guard var mesh = meshes[key] else { return [] }
        let before = mesh.planner.target
        let sends = mesh.planner.step()
        for unit in before.indices where before[unit] != mesh.planner.target[unit] {
            // A first assignment is not a handover; a move from a live or dead shard is.
            if before[unit] != nil, let to = mesh.planner.target[unit] { mesh.pendingMoves[unit] = (to, now) }
        }
        for send in sends { mesh.held[send.member] = send.spec }
        meshes[key] = mesh
        if !sends.isEmpty { dirty.insert(key) }
        let actions = release(key)
        finishMoves(key, now: now)
        return actions + recordIfNeeded(key)
    }

    /// Sends the held specs whose grants are recorded; a revoke grants nothing and goes at once.
    mutating func release(_ key: String) -> [CoordinatorAction] {
        guard var mesh = meshes[key] else { return [] }
        var actions: [CoordinatorAction] = []
        for (member, spec) in mesh.held.sorted(by: { $0.key < $1.key })
        where mesh.recorded.covers(shard: spec.shard, epoch: spec.epoch, units: spec.units) {
            mesh.held[member] = nil
            // Only to a member the planner still counts as connected: what it holds is what it
            // may be sent.
            guard let session = sessions[member], mesh.planner.members[member]?.connected == true else { continue }
            actions.append(.sendSpec(session: session.id, mesh.config.spec(shard: spec.shard, units: spec.units, epoch: spec.epoch)))
        }
        meshes[key] = mesh
        return actions
    }

    /// Asks for the grant record to be written when the planner's grants differ from it and
    /// no write is under way.
    mutating func recordIfNeeded(_ key: String) -> [CoordinatorAction] {
        guard var mesh = meshes[key], !mesh.recording, mesh.recorded.units != mesh.planner.grants else { return [] }
        mesh.recording = true
        meshes[key] = mesh
        return [.recordGrants(key: key, ShardGrants(term: term, units: mesh.planner.grants))]
    }

    /// The shell wrote (or failed to write: `grants` nil) the record it was asked for.
    public mutating func grantsRecorded(key: String, _ grants: ShardGrants?) -> [CoordinatorAction] {
        guard var mesh = meshes[key] else { return [] }
        mesh.recording = false
        if let grants { mesh.recorded = grants }
        meshes[key] = mesh
        return release(key) + recordIfNeeded(key)
    }

    /// Moves whose new owner has every connected member acknowledging a spec that grants them.
    mutating func finishMoves(_ key: String, now: Instant) {
        guard var mesh = meshes[key], !mesh.pendingMoves.isEmpty else { return }
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
        if mesh.handoverTimes.count > CoordinatorStateMachine.handoverHistory {
            mesh.handoverTimes.removeFirst(mesh.handoverTimes.count - CoordinatorStateMachine.handoverHistory)
        }
        meshes[key] = mesh
    }

    // MARK: Leadership

    /// Every config and lease of the informers' first lists has been taken in.
    public mutating func startAccepting() {
        accepting = true
    }

    /// Closes every session and refuses new ones (leadership ended).
    public mutating func shutdown() -> [CoordinatorAction] {
        accepting = false
        let actions = sessions.values.map(\.id).sorted().map { CoordinatorAction.close(session: $0) }
        sessions = [:]
        return actions
    }

    /// Takes the configs whose status should be written.
    public mutating func takeDirty() -> [String] {
        defer { dirty = [] }
        return dirty.sorted()
    }
}
