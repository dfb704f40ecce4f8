import KubeModel

/// What a ShardingConfig's status recorded that a new leader adopts: the target of every unit
/// and the epoch reached (`status.shards[].targetSlots`, `status.epoch`).
public struct PersistedAssignment: Sendable {
    public var target: [String?]?
    public var epoch: UInt64

    public init(status: JSON?, config: MeshConfig) {
        epoch = status?["epoch"]?.intValue.map { UInt64(max(0, $0)) } ?? 0
        var owners = [String?](repeating: nil, count: config.unitCount)
        var any = false
        for shard in status?["shards"]?.arrayValue ?? [] {
            guard let name = shard["name"]?.stringValue, let text = shard["targetSlots"]?.stringValue,
                  let units = MeshConfig.slots(fromText: text, limit: config.unitCount) else { continue }
            for unit in units { owners[unit] = name; any = true }
        }
        target = any ? owners : nil
    }
}

/// The newest request a ShardingConfig's annotation carries (`pause/<id>`, `resume/<id>`…).
public struct RolloutRequest: Sendable, Equatable {
    public var verb: CanaryRollout.Request
    public var id: String

    public init?(annotations: JSON?) {
        guard let text = annotations?[CanaryRollout.requestAnnotation]?.stringValue else { return nil }
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let verb = CanaryRollout.Request(rawValue: parts[0]), !parts[1].isEmpty else { return nil }
        self.verb = verb
        self.id = text
    }
}

/// The rollout a config's status recorded (`status.rollout`), adopted by a new leader (the
/// pause of the step in progress starts over).
public struct PersistedRollout: Sendable {
    public var phase: CanaryRollout.Phase?
    public var step: Int?
    public var message: String
    public var handledRequest: String?

    public init(status: JSON?) {
        let rollout = status?["rollout"]
        phase = rollout?["phase"]?.stringValue.flatMap(CanaryRollout.Phase.init(rawValue:))
        step = rollout?["step"]?.intValue.map { Int($0) - 1 }
        message = rollout?["message"]?.stringValue ?? ""
        handledRequest = rollout?["handledRequest"]?.stringValue
    }

    public func rollout(for canary: MeshConfig.Canary) -> CanaryRollout {
        guard let phase, let step else { return CanaryRollout(canary: canary) }
        return CanaryRollout(canary: canary, phase: phase, step: step, message: message)
    }
}
