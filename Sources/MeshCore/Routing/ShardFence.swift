import KubeModel

/// What the proxy must do with one classified request, decided from the request alone (the
/// proxy's thin shell performs it). Everything about sharding a request is here; nothing here
/// does I/O.
public enum FenceDecision: Equatable, Sendable {
    /// Not sharded: forward unchanged.
    case passThrough
    /// Refuse with 403 Forbidden without touching the upstream.
    case refuse(String)
    /// Forward, then keep only owned items of the list.
    case filterList(ShardSpec.KeyMode)
    /// Forward, then keep only events of owned objects.
    case filterWatch(ShardSpec.KeyMode)
    /// A read of one object whose key only the object knows: forward, then refuse the
    /// response unless the object is owned.
    case judgeResponse(ShardSpec.KeyMode)
    /// A create whose key only the body knows: judge the body's identity first.
    case judgeBody(ShardSpec.KeyMode)
    /// A write to an existing object whose key the object decides: read the object, judge it
    /// as it is and as the write will leave it, then forward.
    case judgeCurrent(ShardSpec.KeyMode)
    /// A deletecollection the server cannot limit to the shard: list the collection, then
    /// delete the owned objects one by one, each pinned to the uid that was judged. Without a
    /// key mode the resource is not sharded and every object counts as owned, except other
    /// shards' leader-election locks.
    case deleteOwned(ShardSpec.KeyMode?)
    /// A write to a Namespace whose labels decide which shard owns what is in it, where
    /// namespaces themselves are not sharded: read it, and unless the write leaves its labels
    /// as they are, judge it as it is and as the write leaves it.
    case judgeLabelMove
    /// A write to the CustomResourceDefinition of a resource this shard does not own all of:
    /// read it, and refuse the write if it changes what the definition does to its objects
    /// (`DefinitionChange`).
    case judgeDefinitionChange
}

public enum ShardFence {
    static let namespaces = GroupResource(group: "", resource: "namespaces")

    /// Decides a resource request. A proxy without a spec treats every resource as sharded by
    /// namespace with nothing owned: lists and watches come back empty, everything else is
    /// refused (it fails closed).
    public static func decide(_ info: RequestInfo, spec: ShardSpec?,
                              namespaceLabels: (String) -> [String: String]?) -> FenceDecision {
        guard let spec else {
            switch info.verb {
            case .list: return .filterList(.namespace)
            case .watch: return .filterWatch(.namespace)
            default: return .refuse("this proxy has not received a shard spec yet; \(info.verb.rawValue) on \(info.groupResource) is refused")
            }
        }
        let gr = info.groupResource
        if let refusal = cascadeRefusal(info, spec: spec, namespaceLabels: namespaceLabels) { return .refuse(refusal) }
        if gr == namespaces, spec.owned.usesNamespaceLabels, info.verb == .update || info.verb == .patch {
            // A namespace owned through its labels moves with a write to them, through its
            // status and finalize subresources too (the API server keeps their metadata).
            return spec.keyMode(of: gr) == .namespace ? .judgeCurrent(.namespace) : .judgeLabelMove
        }
        if gr == crds, info.verb == .update || info.verb == .patch, let name = info.name, !ownsEveryObject(ofDefinition: name, spec: spec) {
            return .judgeDefinitionChange
        }
        if gr == bindings, let podMode = spec.keyMode(of: pods) {
            return bindingDecision(info, podMode: podMode, spec: spec, namespaceLabels: namespaceLabels)
        }
        let reachesLocks = info.verb == .deletecollection && spec.leaderElection.map { LeaderLockRename.collectionHoldsLocks(info, lock: $0) } == true
        guard let mode = spec.keyMode(of: gr) else { return reachesLocks ? .deleteOwned(nil) : .passThrough }
        switch info.verb {
        case .list: return .filterList(mode)
        case .watch: return .filterWatch(mode)
        case .deletecollection:
            if mode == .namespace, let namespace = info.namespace {
                let decision = namespaceDecision(namespace, verb: info.verb, gr: gr, spec: spec, namespaceLabels: namespaceLabels)
                return decision == .passThrough && reachesLocks ? .deleteOwned(.namespace) : decision
            }
            return .deleteOwned(mode)
        case .create where info.subresource == nil:
            if gr == namespaces, mode == .namespace { return .judgeBody(.namespace) }
            switch mode {
            case .namespace:
                guard let namespace = info.namespace else { return refuseClusterScoped(gr, spec: spec) }
                return namespaceDecision(namespace, verb: info.verb, gr: gr, spec: spec, namespaceLabels: namespaceLabels)
            case .object:
                return .judgeBody(.object)
            }
        case .get, .create, .update, .patch, .delete:
            switch mode {
            case .namespace:
                let key = gr == namespaces ? info.name : info.namespace
                guard let key else { return refuseClusterScoped(gr, spec: spec) }
                return namespaceDecision(key, verb: info.verb, gr: gr, spec: spec, namespaceLabels: namespaceLabels)
            case .object:
                if info.verb == .get, info.subresource == nil { return .judgeResponse(.object) }
                return .judgeCurrent(.object)
            }
        }
    }

    static let crds = GroupResource(group: "apiextensions.k8s.io", resource: "customresourcedefinitions")
    static let pods = GroupResource(group: "", resource: "pods")
    static let bindings = GroupResource(group: "", resource: "bindings")

    /// The legacy `bindings` resource writes the pod its body names. Sharded by namespace, the
    /// namespace in the path decides; keyed by object, only the pod can say whose it is, so the
    /// bind must go through `pods/{name}/binding`, which the proxy judges and pins.
    static func bindingDecision(_ info: RequestInfo, podMode: ShardSpec.KeyMode, spec: ShardSpec,
                                namespaceLabels: (String) -> [String: String]?) -> FenceDecision {
        guard podMode == .namespace, let namespace = info.namespace else {
            return .refuse("\(info.verb.rawValue) bindings refused: pods are sharded by their controller; bind a pod through pods/{name}/binding")
        }
        return namespaceDecision(namespace, verb: info.verb, gr: info.groupResource, spec: spec, namespaceLabels: namespaceLabels)
    }

    /// Deletes whose cascade the API server carries out beyond the object named: deleting a
    /// Namespace deletes everything in it, deleting a CRD every object of its resource. They are
    /// refused unless this shard owns everything they would delete (whatever the spec says of
    /// namespaces and CRDs themselves).
    static func cascadeRefusal(_ info: RequestInfo, spec: ShardSpec, namespaceLabels: (String) -> [String: String]?) -> String? {
        guard info.verb == .delete || info.verb == .deletecollection, info.subresource == nil, !spec.resources.isEmpty else { return nil }
        let gr = info.groupResource
        let refused = { (why: String) in "\(info.verb.rawValue) \(gr) refused: \(why); shard \(spec.shard) does not own all of it" }
        if gr == namespaces {
            guard let name = info.name else { return refused("deleting namespaces deletes every object in them") }
            if spec.resources.contains(where: { $0.key == .object }), !HashRange.coverAll(spec.owned.objectHashRanges) {
                return refused("deleting namespace \(name) deletes every object in it, and objects keyed by their controller may belong to other shards")
            }
            if spec.resources.contains(where: { $0.key == .namespace }), !spec.ownsNamespace(name, labels: namespaceLabels(name)) {
                return refused("deleting namespace \(name) deletes every object in it")
            }
            return nil
        }
        if gr == crds {
            let ownsAll = info.name.map { ownsEveryObject(ofDefinition: $0, spec: spec) }
                ?? spec.resources.allSatisfy { ownsEveryObject(mode: $0.key, spec: spec) }
            if !ownsAll { return refused("deleting a CustomResourceDefinition deletes every object of its resource") }
        }
        return nil
    }

    /// Whether this shard owns every object of the resource a CustomResourceDefinition (named
    /// `<plural>.<group>`) defines: true when the spec does not shard that resource.
    static func ownsEveryObject(ofDefinition name: String, spec: ShardSpec) -> Bool {
        let parts = name.split(separator: ".", maxSplits: 1)
        let resource = GroupResource(group: parts.count > 1 ? String(parts[1]) : "", resource: String(parts.first ?? ""))
        return spec.keyMode(of: resource).map { ownsEveryObject(mode: $0, spec: spec) } ?? true
    }

    static func ownsEveryObject(mode: ShardSpec.KeyMode, spec: ShardSpec) -> Bool {
        HashRange.coverAll(mode == .object ? spec.owned.objectHashRanges : spec.owned.namespaceHashRanges)
    }

    static func namespaceDecision(_ namespace: String, verb: RequestInfo.Verb, gr: GroupResource, spec: ShardSpec,
                                  namespaceLabels: (String) -> [String: String]?) -> FenceDecision {
        if spec.ownsNamespace(namespace, labels: namespaceLabels(namespace)) { return .passThrough }
        return .refuse(notOwnedMessage(verb: verb, gr: gr, key: "namespace \(namespace)", shard: spec.shard))
    }

    static func refuseClusterScoped(_ gr: GroupResource, spec: ShardSpec) -> FenceDecision {
        .refuse("\(gr) is sharded by namespace but this object has none; shard \(spec.shard) does not own it")
    }

    /// The 403 message, naming the shard and the key.
    public static func notOwnedMessage(verb: RequestInfo.Verb, gr: GroupResource, key: String, shard: String) -> String {
        "\(verb.rawValue) \(gr) refused: \(key) is not owned by shard \(shard)"
    }

    /// The identity fields judging an object of `gr` reads: what a list filter must extract.
    public static func fieldsJudged(gr: GroupResource, mode: ShardSpec.KeyMode, spec: ShardSpec?) -> ObjectIdentity.Fields {
        switch mode {
        case .namespace:
            guard gr == namespaces else { return .namespace }
            return spec?.owned.usesNamespaceLabels == true ? [.name, .labels] : .name
        case .object:
            return [.uid, .controller]
        }
    }

    /// Judges an object read from a body or the upstream.
    public static func owns(_ identity: ObjectIdentity, gr: GroupResource, mode: ShardSpec.KeyMode, spec: ShardSpec?,
                            namespaceLabels: (String) -> [String: String]?) -> Bool {
        guard let spec else { return false }
        return spec.owns(identity, mode: mode, isNamespaceResource: gr == namespaces, namespaceLabels: namespaceLabels)
    }

    /// Judges a create's body: in object mode a body without a controller owner gets a fresh
    /// uid from the server, which no shard owns yet, so any shard may create it.
    public static func mayCreate(_ identity: ObjectIdentity, gr: GroupResource, mode: ShardSpec.KeyMode, spec: ShardSpec?,
                                 namespaceLabels: (String) -> [String: String]?) -> Bool {
        if mode == .object, identity.controllerUID == nil, spec != nil { return true }
        return owns(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: namespaceLabels)
    }
}
