import KubeModel

/// One ShardingConfig as the manager uses it, whichever API group it came from: which operator
/// pods form the mesh, what they shard and how, and how the pods are grouped into shards.
public struct MeshConfig: Sendable, Equatable {
    /// How the keys of the sharded resources are divided.
    public enum Mode: Sendable, Equatable {
        /// FNV-1a 64 of the object's controller owner uid (else its own uid), cut into slots.
        case objectHash
        /// FNV-1a 64 of the namespace name, cut into slots.
        case namespaceHash
        /// Named namespace sets, one per shard, fixed by the config.
        case namespaceSets([NamespaceSet])
    }

    /// One shard's namespaces in `namespaceSets` mode: any clause matching owns the namespace.
    public struct NamespaceSet: Sendable, Equatable {
        public var name: String
        public var namespaces: [String]
        public var selectors: [LabelSelector]
        public var regexes: [RegexPattern]

        public init(name: String, namespaces: [String] = [], selectors: [LabelSelector] = [], regexes: [RegexPattern] = []) {
            self.name = name
            self.namespaces = namespaces
            self.selectors = selectors
            self.regexes = regexes
        }
    }

    public var name: String
    public var namespace: String
    /// The API group the config was written in (ours, or KusionStack's).
    public var group = MeshConfig.group
    /// The operator pods of this mesh.
    public var podSelector: LabelSelector
    public var resources: [ShardSpec.ResourceRule]
    public var mode: Mode
    /// The most shards in hash modes (pods beyond them are spares that own nothing); nil for
    /// as many as the pods make.
    public var maxShards: Int?
    /// Pods per shard: each shard's pods elect one leader among them, the rest stand by hot.
    public var replicasPerShard: Int
    /// Hash-space slots in hash modes: a power of two, many more than shards.
    public var slots: Int
    public var leaderElection: ShardSpec.LeaderElectionLock?
    /// A subset of the pods (a new operator version) given a growing share of the hash space.
    public var canary: Canary?

    public init(name: String, namespace: String, podSelector: LabelSelector, resources: [ShardSpec.ResourceRule], mode: Mode,
                maxShards: Int? = nil, replicasPerShard: Int = 1, slots: Int = MeshConfig.defaultSlots,
                leaderElection: ShardSpec.LeaderElectionLock? = nil, canary: Canary? = nil) {
        self.name = name
        self.namespace = namespace
        self.podSelector = podSelector
        self.resources = resources
        self.mode = mode
        self.maxShards = maxShards
        self.replicasPerShard = replicasPerShard
        self.slots = slots
        self.leaderElection = leaderElection
        self.canary = canary
    }

    public static let defaultSlots = 256
    /// Label naming a pod's shard index outright, for pods without a StatefulSet ordinal.
    public static let shardIndexLabel = "ctrlmesh.kruise.io/shard-index"

    /// The number of units handed over: slots in hash modes, sets in `namespaceSets` mode.
    public var unitCount: Int {
        if case .namespaceSets(let sets) = mode { return sets.count }
        return slots
    }

    /// The name of shard `index`.
    public func shardName(_ index: Int) -> String {
        if case .namespaceSets(let sets) = mode, index < sets.count { return sets[index].name }
        return "\(name)-\(index)"
    }

    /// The shard a pod belongs to for its whole life: its index label, else its StatefulSet
    /// ordinal divided by `replicasPerShard`. Pods past the last shard are spares; nil when the
    /// pod has neither an index label nor an ordinal.
    public func placement(podName: String, labels: [String: String]) -> Placement? {
        // Canary pods come first: they form one shard of their own, whatever their ordinal.
        var ordinalOffset = 0
        switch canary?.pods {
        case .selector(let selector)? where selector.matches(labels):
            return .shard(canaryShardName)
        case .firstOrdinals(let count)?:
            guard let ordinal = MeshConfig.ordinal(of: podName) else { break }
            if ordinal < count { return .shard(canaryShardName) }
            ordinalOffset = count
        default:
            break
        }
        let index: Int
        if let text = labels[MeshConfig.shardIndexLabel] {
            guard let value = Int(text), value >= 0 else { return nil }
            index = value
        } else if replicasPerShard == .max {
            index = 0  // one shard takes every pod (a KusionStack shard config)
        } else {
            guard let ordinal = MeshConfig.ordinal(of: podName) else { return nil }
            index = (ordinal - ordinalOffset) / replicasPerShard
        }
        let limit: Int? = if case .namespaceSets(let sets) = mode { sets.count } else { maxShards }
        if let limit, index >= limit { return .spare }
        return .shard(shardName(index))
    }

    public enum Placement: Sendable, Equatable {
        case shard(String)
        /// Beyond the last shard: owns nothing until one is free.
        case spare
    }

    /// The spare pods' shard name: they elect a leader on their own lock and own nothing.
    public var spareShardName: String { "\(name)-spare" }

    /// A StatefulSet pod's ordinal: the number after its last dash.
    static func ordinal(of podName: String) -> Int? {
        guard let dash = podName.lastIndex(of: "-") else { return nil }
        let digits = podName[podName.index(after: dash)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }
}
