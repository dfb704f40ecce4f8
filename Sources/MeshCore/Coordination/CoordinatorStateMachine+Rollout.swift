import KubeModel

/// The canary rollout of each config that has a canary: the clock and the canary's error
/// reports advance it, a person's request (an annotation `ctrlmesh rollout` writes) pauses,
/// resumes or aborts it, and every change of its share becomes the planner's canary units,
/// handed over like any other move.
extension CoordinatorStateMachine {
    /// Takes the rollout one tick further: judge the canary's errors, take the next step when
    /// the current one converged and held its pause.
    mutating func advanceRollout(_ key: String, now: Instant) -> [CoordinatorAction] {
        guard var mesh = meshes[key], var rollout = mesh.rollout, let canary = mesh.config.canary else { return [] }
        let window = canary.analysis?.window ?? .seconds(60)
        let errors = mesh.canaryErrors.totals(over: window, at: now)
        let live = mesh.planner.liveShards.contains(mesh.config.canaryShardName)
        guard rollout.observe(converged: mesh.planner.converged, canaryLive: live, errors: errors, now: now) else {
            meshes[key] = mesh
            return []
        }
        var actions: [CoordinatorAction] = []
        if rollout.phase != mesh.rollout?.phase || rollout.step != mesh.rollout?.step {
            actions.append(.log(.info, "rollout of \(key): \(rollout.phase.rawValue), \(rollout.message)"))
        }
        mesh.rollout = rollout
        meshes[key] = mesh
        return actions + applyShare(key, now: now)
    }

    /// A person's request, acted on once (the annotation stays; its id says it was seen).
    mutating func handle(_ request: RolloutRequest?, in key: String, now: Instant) -> [CoordinatorAction] {
        guard let request, var mesh = meshes[key], mesh.handledRequest != request.id else { return [] }
        mesh.handledRequest = request.id
        var actions: [CoordinatorAction] = []
        if var rollout = mesh.rollout {
            let wasJudged = rollout.phase == .rolledBack || rollout.phase == .aborted
            if rollout.handle(request.verb) {
                actions.append(.log(.info, "rollout of \(key): \(request.verb.rawValue) requested: \(rollout.message)"))
                // A restarted rollout is judged on what the canary does from now on.
                if wasJudged, rollout.phase == .progressing { mesh.canaryErrors.reset() }
            }
            mesh.rollout = rollout
        }
        meshes[key] = mesh
        dirty.insert(key)
        return actions + applyShare(key, now: now)
    }

    /// The canary's share as the rollout has it now, handed to the planner.
    mutating func applyShare(_ key: String, now: Instant) -> [CoordinatorAction] {
        guard var mesh = meshes[key] else { return [] }
        dirty.insert(key)
        let units = mesh.config.canaryUnits(step: mesh.rollout?.shareStep)
        guard units != mesh.planner.canaryUnits else { return [] }
        mesh.planner.canaryUnits = units
        meshes[key] = mesh
        return step(key, now: now)
    }

    /// A proxy's count of sharded calls and their errors: counted when it is a canary pod's
    /// and the rollout is still judged.
    public mutating func traffic(member id: String, session: Int, requests: Int, errors: Int, now: Instant) {
        guard let current = sessions[id], current.id == session, let key = current.mesh, let mesh = meshes[key],
              mesh.rollout?.isUnderWay == true,
              mesh.planner.members[id]?.shard == mesh.config.canaryShardName else { return }
        meshes[key]?.canaryErrors.add(requests: requests, errors: errors, at: now)
    }
}
