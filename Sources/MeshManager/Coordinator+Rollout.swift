import KubeModel
import MeshCore

/// The canary rollout of each config that has a canary: the clock and the canary's error
/// reports advance it, a person's request (an annotation `ctrlmesh rollout` writes) pauses,
/// resumes or aborts it, and every change of its share becomes the planner's canary units,
/// handed over like any other move.
extension Coordinator {
    /// Takes the rollout one tick further: judge the canary's errors, take the next step when
    /// the current one converged and held its pause.
    func advanceRollout(_ key: String) {
        guard var mesh = meshes[key], var rollout = mesh.rollout, let canary = mesh.config.canary else { return }
        let window = canary.analysis?.window ?? .seconds(60)
        let errors = mesh.canaryErrors.totals(over: window, at: .now)
        let live = mesh.planner.liveShards.contains(mesh.config.canaryShardName)
        guard rollout.observe(converged: mesh.planner.converged, canaryLive: live, errors: errors, now: .now) else {
            meshes[key] = mesh
            return
        }
        if rollout.phase != mesh.rollout?.phase || rollout.step != mesh.rollout?.step {
            logger.info("rollout of \(key): \(rollout.phase.rawValue), \(rollout.message)")
        }
        mesh.rollout = rollout
        meshes[key] = mesh
        applyShare(key)
    }

    /// A person's request, acted on once (the annotation stays; its id says it was seen).
    func handle(_ request: RolloutRequest?, in key: String) {
        guard let request, var mesh = meshes[key], mesh.handledRequest != request.id else { return }
        mesh.handledRequest = request.id
        if var rollout = mesh.rollout {
            let wasJudged = rollout.phase == .rolledBack || rollout.phase == .aborted
            if rollout.handle(request.verb) {
                logger.info("rollout of \(key): \(request.verb.rawValue) requested: \(rollout.message)")
                // A restarted rollout is judged on what the canary does from now on.
                if wasJudged, rollout.phase == .progressing { mesh.canaryErrors.reset() }
            }
            mesh.rollout = rollout
        }
        meshes[key] = mesh
        dirty.insert(key)
        applyShare(key)
    }

    /// The canary's share as the rollout has it now, handed to the planner.
    func applyShare(_ key: String) {
        guard var mesh = meshes[key] else { return }
        dirty.insert(key)
        let units = mesh.config.canaryUnits(step: mesh.rollout?.shareStep)
        guard units != mesh.planner.canaryUnits else { return }
        mesh.planner.canaryUnits = units
        meshes[key] = mesh
        step(key)
    }

    /// A proxy's count of sharded calls and their errors: counted when it is a canary pod's
    /// and the rollout is still judged.
    func traffic(member id: String, session: Int, requests: Int, errors: Int) {
        guard let current = sessions[id], current.id == session, let key = current.mesh, let mesh = meshes[key],
              mesh.rollout?.isUnderWay == true,
              mesh.planner.members[id]?.shard == mesh.config.canaryShardName else { return }
        meshes[key]?.canaryErrors.add(requests: requests, errors: errors, at: .now)
    }
}

/// The newest request a ShardingConfig's annotation carries.
struct RolloutRequest: Equatable {
    var verb: CanaryRollout.Request
    var id: String

    init?(annotations: JSON?) {
        guard let text = annotations?[CanaryRollout.requestAnnotation]?.stringValue else { return nil }
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let verb = CanaryRollout.Request(rawValue: parts[0]), !parts[1].isEmpty else { return nil }
        self.verb = verb
        self.id = text
    }
}

/// The rollout a config's status recorded, adopted by a new leader (the pause of the step in
/// progress starts over).
struct PersistedRollout {
    var phase: CanaryRollout.Phase?
    var step: Int?
    var message: String
    var handledRequest: String?

    init(status: JSON?) {
        let rollout = status?["rollout"]
        phase = rollout?["phase"]?.stringValue.flatMap(CanaryRollout.Phase.init(rawValue:))
        step = rollout?["step"]?.intValue.map { Int($0) - 1 }
        message = rollout?["message"]?.stringValue ?? ""
        handledRequest = rollout?["handledRequest"]?.stringValue
    }

    func rollout(for canary: MeshConfig.Canary) -> CanaryRollout {
        guard let phase, let step else { return CanaryRollout(canary: canary) }
        return CanaryRollout(canary: canary, phase: phase, step: step, message: message)
    }
}
