import KubeModel

extension MeshConfig {
    public static let group = "ctrlmesh.kruise.io"
    public static let kusionGroup = "ctrlmesh.kusionstack.io"
    /// The ShardingConfig collections of both API groups.
    public static let resource = GroupVersionResource(group: group, version: "v1alpha1", resource: "shardingconfigs")
    public static let kusionResource = GroupVersionResource(group: kusionGroup, version: "v1alpha1", resource: "shardingconfigs")

    /// The ShardingConfig collection of `group` (KusionStack's, else ours).
    public static func resource(group: String) -> GroupVersionResource { group == kusionGroup ? kusionResource : resource }

    /// Parses and validates a ShardingConfig object of either API group
    /// (`ctrlmesh.kruise.io/v1alpha1`, or KusionStack's `ctrlmesh.kusionstack.io/v1alpha1`).
    public init(object: JSON) throws(FieldErrors) {
        let apiVersion = object["apiVersion"]?.stringValue ?? ""
        let group = apiVersion.split(separator: "/").first.map(String.init) ?? ""
        guard object["kind"]?.stringValue == "ShardingConfig", group == MeshConfig.group || group == MeshConfig.kusionGroup else {
            throw FieldErrors(["kind: expected a ShardingConfig of \(MeshConfig.group) or \(MeshConfig.kusionGroup), got \(apiVersion) \(object["kind"]?.stringValue ?? "")"])
        }
        var reader = FieldReader()
        let name = object["metadata"]?["name"]?.stringValue ?? ""
        let namespace = object["metadata"]?["namespace"]?.stringValue ?? ""
        if name.isEmpty { reader.fail("metadata.name", "Required value") }
        let spec = object["spec"] ?? .null
        let parsed = group == MeshConfig.kusionGroup
            ? MeshConfig.kusion(spec, name: name, namespace: namespace, reader: &reader)
            : MeshConfig.native(spec, name: name, namespace: namespace, reader: &reader)
        if let parsed { reader.validate(parsed) }
        guard reader.problems.isEmpty, let parsed else { throw FieldErrors(reader.problems) }
        self = parsed
    }

    /// `ctrlmesh.kruise.io/v1alpha1`:
    ///
    ///     spec:
    ///       selector: {matchLabels: {app: cloneset-operator}}     # the operator pods
    ///       resources: [{apiGroups: [apps.kruise.io], resources: [clonesets]}, ...]
    ///       sharding:
    ///         mode: ObjectHash | NamespaceHash | NamespaceSets
    ///         shards: 3                # optional: the most shards
    ///         replicasPerShard: 2      # pods per shard (one leads, the rest stand by)
    ///         slots: 256               # hash modes
    ///         namespaceSets: [{name, namespaces, namespaceSelector, namespaceRegex}]
    ///       leaderElection: {namespace, name, resource}
    ///       canary:                    # hash modes
    ///         selector: {matchLabels: {version: v2}}     # the canary pods
    ///         steps: [{namespaces: [ns-a]}, {percent: 10}, {percent: 50}, {percent: 100}]
    ///         pause: 30s               # each step holds this long once converged
    ///         analysis: {maxErrorPercent: 20, minRequests: 20, window: 1m}
    static func native(_ spec: JSON, name: String, namespace: String, reader: inout FieldReader) -> MeshConfig? {
        let selector = reader.selector(spec["selector"], "spec.selector", required: true)
        let resources = reader.resourceRules(spec["resources"], "spec.resources", key: .namespace)
        let sharding = spec["sharding"] ?? .null
        let modeText = sharding["mode"]?.stringValue ?? "ObjectHash"
        let mode: Mode
        switch modeText {
        case "ObjectHash": mode = .objectHash
        case "NamespaceHash": mode = .namespaceHash
        case "NamespaceSets":
            var sets: [NamespaceSet] = []
            for (i, item) in (sharding["namespaceSets"]?.arrayValue ?? []).enumerated() {
                let path = "spec.sharding.namespaceSets[\(i)]"
                var set = NamespaceSet(name: item["name"]?.stringValue ?? "")
                set.namespaces = reader.strings(item["namespaces"], "\(path).namespaces")
                if let selector = item["namespaceSelector"], !selector.isNull {
                    set.selectors = [reader.selector(selector, "\(path).namespaceSelector", required: false)]
                }
                if let regex = item["namespaceRegex"]?.stringValue {
                    do { set.regexes = [try RegexPattern(regex)] } catch {
                        reader.fail("\(path).namespaceRegex", "Invalid value: \"\(regex)\": not a valid regular expression")
                    }
                }
                sets.append(set)
            }
            mode = .namespaceSets(sets)
        default:
            reader.fail("spec.sharding.mode", "Unsupported value: \"\(modeText)\": supported values: \"ObjectHash\", \"NamespaceHash\", \"NamespaceSets\"")
            return nil
        }
        // Object mode keys objects by owner uid: the rules say so, whatever they were written as.
        let key: ShardSpec.KeyMode = mode == .objectHash ? .object : .namespace
        let shards = reader.int(sharding["shards"], "spec.sharding.shards")
        let replicas = reader.int(sharding["replicasPerShard"], "spec.sharding.replicasPerShard") ?? 1
        let slots = reader.int(sharding["slots"], "spec.sharding.slots") ?? MeshConfig.defaultSlots
        let lock = reader.lock(spec["leaderElection"], "spec.leaderElection", defaultNamespace: namespace)
        return MeshConfig(name: name, namespace: namespace, podSelector: selector,
                          resources: resources.map { ShardSpec.ResourceRule(apiGroups: $0.apiGroups, resources: $0.resources, key: key) },
                          mode: mode, maxShards: shards, replicasPerShard: replicas, slots: slots, leaderElection: lock,
                          canary: reader.canary(spec["canary"], "spec.canary"))
    }

    /// KusionStack's `ctrlmesh.kusionstack.io/v1alpha1`. A root config (`spec.root.auto`)
    /// shards namespaces by hash into `shardingSize` shards of `everyShardReplicas` pods; any
    /// other config is one shard owning the namespaces its `limits` name through the
    /// `ctrlmesh.kusionstack.io/namespace` label requirement.
    static func kusion(_ spec: JSON, name: String, namespace: String, reader: inout FieldReader) -> MeshConfig? {
        let selector = reader.selector(spec["selector"], "spec.selector", required: true)
        var lock: ShardSpec.LeaderElectionLock?
        if let lockName = spec["controller"]?["leaderElectionName"]?.stringValue, !lockName.isEmpty {
            lock = ShardSpec.LeaderElectionLock(namespace: namespace, name: lockName)
        }
        if let root = spec["root"], !root.isNull {
            var resources: [ShardSpec.ResourceRule] = []
            for (i, item) in (root["resourceSelector"]?.arrayValue ?? []).enumerated() {
                resources += reader.resourceRules(item["relateResources"], "spec.root.resourceSelector[\(i)].relateResources", key: .namespace)
            }
            let auto = root["auto"] ?? .null
            guard !auto.isNull else {
                reader.fail("spec.root.auto", "Required value: only automatic root sharding is supported")
                return nil
            }
            let shards = reader.int(auto["shardingSize"], "spec.root.auto.shardingSize")
            let replicas = reader.int(auto["everyShardReplicas"], "spec.root.auto.everyShardReplicas") ?? 1
            return MeshConfig(name: name, namespace: namespace, podSelector: selector, resources: resources, mode: .namespaceHash,
                              maxShards: shards ?? 1, replicasPerShard: replicas, leaderElection: lock,
                              canary: reader.kusionCanary(root["canary"], "spec.root.canary"))
        }
        var resources: [ShardSpec.ResourceRule] = []
        var set = NamespaceSet(name: name)
        for (i, limit) in (spec["limits"]?.arrayValue ?? []).enumerated() {
            let path = "spec.limits[\(i)].objectSelector"
            let objectSelector = limit["objectSelector"] ?? .null
            resources += reader.resourceRules(objectSelector["relateResources"], "\(path).relateResources", key: .namespace)
            let labels = reader.selector(objectSelector["selector"], "\(path).selector", required: false)
            for requirement in labels.requirements {
                guard requirement.key == "ctrlmesh.kusionstack.io/namespace", requirement.op == .in else {
                    reader.fail("\(path).selector", "Unsupported value: only \"ctrlmesh.kusionstack.io/namespace In (...)\" selects a shard's objects")
                    continue
                }
                set.namespaces += requirement.values
            }
        }
        if set.namespaces.isEmpty { reader.fail("spec.limits", "Required value: name the shard's namespaces") }
        // One config is one shard: every selected pod belongs to it.
        return MeshConfig(name: name, namespace: namespace, podSelector: selector, resources: resources, mode: .namespaceSets([set]),
                          maxShards: 1, replicasPerShard: Int.max, leaderElection: lock)
    }
}

extension FieldReader {
    mutating func resourceRules(_ value: JSON?, _ path: String, key: ShardSpec.KeyMode) -> [ShardSpec.ResourceRule] {
        var rules: [ShardSpec.ResourceRule] = []
        for (i, item) in (value?.arrayValue ?? []).enumerated() {
            let groups = strings(item["apiGroups"], "\(path)[\(i)].apiGroups")
            let resources = strings(item["resources"], "\(path)[\(i)].resources")
            if groups.isEmpty || resources.isEmpty {
                fail("\(path)[\(i)]", "Required value: apiGroups and resources must not be empty")
            }
            rules.append(ShardSpec.ResourceRule(apiGroups: groups, resources: resources, key: key))
        }
        return rules
    }

    mutating func lock(_ value: JSON?, _ path: String, defaultNamespace: String) -> ShardSpec.LeaderElectionLock? {
        guard let value, !value.isNull else { return nil }
        guard let name = value["name"]?.stringValue, !name.isEmpty else {
            fail("\(path).name", "Required value")
            return nil
        }
        let resource = value["resource"]?.stringValue ?? "leases"
        guard ["leases", "configmaps", "endpoints"].contains(resource) else {
            fail("\(path).resource", "Unsupported value: \"\(resource)\": supported values: \"leases\", \"configmaps\", \"endpoints\"")
            return nil
        }
        return ShardSpec.LeaderElectionLock(group: resource == "leases" ? "coordination.k8s.io" : "", resource: resource,
                                            namespace: value["namespace"]?.stringValue ?? defaultNamespace, name: name)
    }

    /// Rules that span fields.
    mutating func validate(_ config: MeshConfig) {
        if config.resources.isEmpty { fail("spec.resources", "Required value: name at least one sharded resource") }
        if let shards = config.maxShards, shards < 1 { fail("spec.sharding.shards", "Invalid value: \(shards): must be at least 1") }
        if config.replicasPerShard < 1 {
            fail("spec.sharding.replicasPerShard", "Invalid value: \(config.replicasPerShard): must be at least 1")
        }
        if let canary = config.canary {
            if case .namespaceSets = config.mode {
                fail("spec.canary", "Forbidden: a canary takes hash slots; use ObjectHash or NamespaceHash mode")
            } else if config.mode == .objectHash, canary.steps.contains(where: { !$0.namespaces.isEmpty }) {
                fail("spec.canary.steps", "Forbidden: namespace steps need NamespaceHash mode (ObjectHash keys objects by owner uid)")
            }
        }
        switch config.mode {
        case .objectHash, .namespaceHash:
            if config.slots < 1 || config.slots > 65536 || config.slots.nonzeroBitCount != 1 {
                fail("spec.sharding.slots", "Invalid value: \(config.slots): must be a power of two from 1 to 65536")
            } else if let shards = config.maxShards, shards > config.slots {
                fail("spec.sharding.shards", "Invalid value: \(shards): must not exceed slots (\(config.slots))")
            }
        case .namespaceSets(let sets):
            if sets.isEmpty { fail("spec.sharding.namespaceSets", "Required value: NamespaceSets mode needs at least one set") }
            var owner: [String: String] = [:]
            var names = Set<String>()
            for (i, set) in sets.enumerated() {
                let path = "spec.sharding.namespaceSets[\(i)]"
                if !NameValidation.isDNS1123Label(set.name) {
                    fail("\(path).name", "Invalid value: \"\(set.name)\": must be a DNS-1123 label")
                } else if !names.insert(set.name).inserted {
                    fail("\(path).name", "Duplicate value: \"\(set.name)\"")
                }
                if set.namespaces.isEmpty && set.selectors.isEmpty && set.regexes.isEmpty {
                    fail(path, "Required value: one of namespaces, namespaceSelector or namespaceRegex")
                }
                for namespace in set.namespaces {
                    if let other = owner[namespace], other != set.name {
                        fail("\(path).namespaces", "Duplicate value: \"\(namespace)\" is also in set \"\(other)\"")
                    }
                    owner[namespace] = set.name
                }
            }
        }
    }
}
