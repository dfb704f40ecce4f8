import KubeModel

extension MeshConfig {
    public static let group = "ctrlmesh.kruise.io"
    public static let kusionGroup = "ctrlmesh.kusionstack.io"
    /// The ShardingConfig collections of both API groups.
    public static let resource = GroupVersionResource(group: group, version: "v1alpha1", resource: "shardingconfigs")
    public static let kusionResource = GroupVersionResource(group: kusionGroup, version: "v1alpha1", resource: "shardingconfigs")

    /// The ShardingConfig collection of `group` (KusionStack's, else ours).
    public static func resource(group: String) -> GroupVersionResource { group == kusionGroup ? kusionResource : resource }

    /// `group/namespace/name`: what the manager and the fence know the config by (the two API
    /// groups' configs never collide).
    public var key: String { "\(group)/\(namespace)/\(name)" }

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
        reader.object(object, "", known: ["apiVersion", "kind", "metadata", "spec", "status"])
        let parsed = group == MeshConfig.kusionGroup
            ? MeshConfig.kusion(spec, name: name, namespace: namespace, reader: &reader)
            : MeshConfig.native(spec, name: name, namespace: namespace, reader: &reader)
        if let parsed { reader.validate(parsed) }
        guard reader.problems.isEmpty, var parsed else { throw FieldErrors(reader.problems) }
        parsed.group = group
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
        reader.object(spec, "spec", known: ["selector", "resources", "sharding", "leaderElection", "canary"])
        let selector = reader.selector(spec["selector"], "spec.selector", required: true)
        let resources = reader.resourceRules(spec["resources"], "spec.resources", key: .namespace)
        let sharding = reader.object(spec["sharding"], "spec.sharding", known: ["mode", "shards", "replicasPerShard", "slots", "namespaceSets"]) ?? .null
        let modeText = reader.string(sharding["mode"], "spec.sharding.mode") ?? "ObjectHash"
        let mode: Mode
        switch modeText {
        case "ObjectHash": mode = .objectHash
        case "NamespaceHash": mode = .namespaceHash
        case "NamespaceSets":
            var sets: [NamespaceSet] = []
            for (path, item) in reader.objects(sharding["namespaceSets"], "spec.sharding.namespaceSets",
                                               known: ["name", "namespaces", "namespaceSelector", "namespaceRegex"]) {
                var set = NamespaceSet(name: reader.string(item["name"], "\(path).name") ?? "")
                set.namespaces = reader.strings(item["namespaces"], "\(path).namespaces")
                if let selector = item["namespaceSelector"], !selector.isNull {
                    set.selectors = [reader.selector(selector, "\(path).namespaceSelector", required: false)]
                }
                if let regex = reader.string(item["namespaceRegex"], "\(path).namespaceRegex") {
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
    /// Fields of KusionStack's schema that do not change what is sharded or where (the name
    /// prefix and StatefulSet of its generated configs) are accepted and have no effect here;
    /// fields that would (`webhook`, object label selectors, `root.disable`) are refused until
    /// they are implemented, rather than silently ignored.
    static func kusion(_ spec: JSON, name: String, namespace: String, reader: inout FieldReader) -> MeshConfig? {
        reader.object(spec, "spec", known: ["selector", "controller", "limits", "root"])
        reader.unsupported(spec["webhook"], "spec.webhook", "routing admission webhooks to shards is not implemented")
        let selector = reader.selector(spec["selector"], "spec.selector", required: true)
        var lock: ShardSpec.LeaderElectionLock?
        let controller = reader.object(spec["controller"], "spec.controller", known: ["leaderElectionName"])
        if let lockName = reader.string(controller?["leaderElectionName"], "spec.controller.leaderElectionName"), !lockName.isEmpty {
            lock = ShardSpec.LeaderElectionLock(namespace: namespace, name: lockName)
        }
        if let root = reader.object(spec["root"], "spec.root", known: ["auto", "canary", "resourceSelector", "disable"],
                                    ignored: ["prefix", "targetStatefulSet"]) {
            reader.unsupported(root["disable"], "spec.root.disable", "a disabled root config is not implemented")
            var resources: [ShardSpec.ResourceRule] = []
            for (path, item) in reader.objects(root["resourceSelector"], "spec.root.resourceSelector", known: ["relateResources", "selector"]) {
                resources += reader.resourceRules(item["relateResources"], "\(path).relateResources", key: .namespace)
                reader.unsupported(item["selector"], "\(path).selector", "object label selectors are not used: the mesh shards by namespace hash")
            }
            let auto = reader.object(root["auto"], "spec.root.auto", known: ["everyShardReplicas", "shardingSize"]) ?? .null
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
        // Both shapes of a limit: the schema's `{relateResources, selector}` and the older
        // samples' `{objectSelector: {relateResources, selector}}`.
        for (at, limit) in reader.objects(spec["limits"], "spec.limits", known: ["objectSelector", "relateResources", "selector"]) {
            let nested = limit["objectSelector"] != nil
            let path = nested ? "\(at).objectSelector" : at
            let objectSelector = nested ? reader.object(limit["objectSelector"], path, known: ["relateResources", "selector"]) ?? .null : limit
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
        for (at, item) in objects(value, path, known: ["apiGroups", "resources"]) {
            let groups = strings(item["apiGroups"], "\(at).apiGroups")
            let resources = strings(item["resources"], "\(at).resources")
            if groups.isEmpty || resources.isEmpty {
                fail(at, "Required value: apiGroups and resources must not be empty")
            }
            rules.append(ShardSpec.ResourceRule(apiGroups: groups, resources: resources, key: key))
        }
        return rules
    }

    mutating func lock(_ value: JSON?, _ path: String, defaultNamespace: String) -> ShardSpec.LeaderElectionLock? {
        guard let value = object(value, path, known: ["namespace", "name", "resource"]) else { return nil }
        guard let name = string(value["name"], "\(path).name"), !name.isEmpty else {
            fail("\(path).name", "Required value")
            return nil
        }
        let resource = string(value["resource"], "\(path).resource") ?? "leases"
        guard ["leases", "configmaps", "endpoints"].contains(resource) else {
            fail("\(path).resource", "Unsupported value: \"\(resource)\": supported values: \"leases\", \"configmaps\", \"endpoints\"")
            return nil
        }
        return ShardSpec.LeaderElectionLock(group: resource == "leases" ? "coordination.k8s.io" : "", resource: resource,
                                            namespace: string(value["namespace"], "\(path).namespace") ?? defaultNamespace, name: name)
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
