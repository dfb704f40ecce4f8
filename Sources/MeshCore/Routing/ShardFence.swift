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
    /// A write to a Namespace whose labels decide which shard owns what is in it: read the
    /// namespace and judge the write as `NamespaceWrite` says.
    case judgeNamespaceWrite(NamespaceWrite)
    /// A create of a Namespace: where namespaces are sharded (`sharded`), the body's name must
    /// be owned; and a namespace born with owners must be one this shard would own everything
    /// in (`ShardFence.namespaceOwnersRefusal`).
    case judgeNamespaceCreate(sharded: Bool)
    /// A write to an object that decides how the API server treats every object of a resource
    /// this shard does not own all of (a CustomResourceDefinition, an admission webhook or
    /// policy, an APIService): read it, and refuse the write if it changes what the object does
    /// to theirs (`DefinitionChange`).
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
        if gr == namespaces, info.verb == .update || info.verb == .patch, let name = info.name,
           let decision = namespaceWriteDecision(info, name: name, spec: spec, namespaceLabels: namespaceLabels) {
            return decision
        }
        if gr == namespaces, info.verb == .create, info.subresource == nil, !spec.resources.isEmpty {
            return .judgeNamespaceCreate(sharded: spec.keyMode(of: gr) == .namespace)
        }
        if let decision = definitionDecision(info, spec: spec) { return decision }
        if gr == bindings, let podMode = spec.keyMode(of: pods) {
            return bindingDecision(info, podMode: podMode, spec: spec, namespaceLabels: namespaceLabels)
        }
        // A deletecollection that could reach leader locks or members' liveness Leases is split
        // by the proxy, which leaves those out.
        let reachesLocks = info.verb == .deletecollection
            && (spec.leaderElection.map { LeaderLockRename.collectionHoldsLocks(info, lock: $0) } == true || gr == MeshControlWrite.leases)
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
    /// Resources whose objects decide how the API server treats objects of other resources,
    /// whichever resources they name: admission webhooks and policies see and rewrite (or
    /// refuse) every write they match, an APIService takes a whole API group to a server of its
    /// choosing.
    static let clusterReaching: Set<GroupResource> = [
        GroupResource(group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations"),
        GroupResource(group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations"),
        GroupResource(group: "admissionregistration.k8s.io", resource: "mutatingadmissionpolicies"),
        GroupResource(group: "admissionregistration.k8s.io", resource: "mutatingadmissionpolicybindings"),
        GroupResource(group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicies"),
        GroupResource(group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicybindings"),
        GroupResource(group: "apiregistration.k8s.io", resource: "apiservices"),
    ]
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

    /// Writes to a Namespace. Everything about a namespace reaches what is in it: its owners
    /// (the garbage collector deletes a namespace whose owners are gone, and everything in it),
    /// its labels and annotations (admission webhooks and policies select by them, Pod Security
    /// admission reads them), its finalizers (its deletion never ends), its status (a phase of
    /// Terminating stops every create in it) and finalize. So only a shard that owns everything
    /// in it may write it. Where labels decide ownership, that shard's writes are judged on
    /// both sides (through status and finalize too: the API server keeps their metadata). Nil:
    /// decided as any other resource.
    static func namespaceWriteDecision(_ info: RequestInfo, name: String, spec: ShardSpec,
                                       namespaceLabels: (String) -> [String: String]?) -> FenceDecision? {
        if namespaceCascadeRefusal(info, name: name, spec: spec, namespaceLabels: namespaceLabels) != nil {
            let what = info.subresource.map { "namespaces/\($0)" } ?? "namespaces"
            return .refuse("\(info.verb.rawValue) \(what) refused: a write to namespace \(name) reaches every object in it, and shard \(spec.shard) does not own all of them")
        }
        guard spec.owned.usesNamespaceLabels else { return nil }
        return .judgeNamespaceWrite(NamespaceWrite(sharded: spec.keyMode(of: namespaces) == .namespace))
    }

    /// Writes to an object that decides how the API server treats the objects of other
    /// resources (`crds`, `clusterReaching`), where this shard does not own all of those: a
    /// change is judged (`judgeDefinitionChange`); creating or deleting an admission webhook,
    /// policy or APIService is refused outright. Nil: decided as any other resource.
    static func definitionDecision(_ info: RequestInfo, spec: ShardSpec) -> FenceDecision? {
        let gr = info.groupResource
        let ownsAll: Bool
        if gr == crds, let name = info.name {
            ownsAll = ownsEveryObject(ofDefinition: name, spec: spec)
        } else if clusterReaching.contains(gr) {
            ownsAll = spec.resources.allSatisfy { ownsEveryObject(mode: $0.key, spec: spec) }
        } else {
            return nil
        }
        guard !ownsAll else { return nil }
        switch info.verb {
        case .update, .patch: return .judgeDefinitionChange
        case .create, .delete, .deletecollection:
            // A CRD's create reaches no object yet; its delete is a cascade (`cascadeRefusal`).
            guard gr != crds else { return nil }
            return .refuse("\(info.verb.rawValue) \(gr) refused: it reaches objects of every shard, and shard \(spec.shard) does not own all of them")
        case .get, .list, .watch: return nil
        }
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
            return namespaceCascadeRefusal(info, name: name, spec: spec, namespaceLabels: namespaceLabels)
        }
        if gr == crds {
            let ownsAll = info.name.map { ownsEveryObject(ofDefinition: $0, spec: spec) }
                ?? spec.resources.allSatisfy { ownsEveryObject(mode: $0.key, spec: spec) }
            if !ownsAll { return refused("deleting a CustomResourceDefinition deletes every object of its resource") }
        }
        return nil
    }

    /// Why a namespace born with owners (a create whose body names `ownerReferences`) would let
    /// the garbage collector delete what this shard does not own: it is not named yet, or this
    /// shard would not own everything in it. Nil when it has no owners or the shard would.
    public static func namespaceOwnersRefusal(_ info: RequestInfo, _ body: ObjectIdentity, spec: ShardSpec?) -> String? {
        guard body.owners > 0, let spec else { return nil }
        let reach = "a namespace born with ownerReferences is deleted, with everything in it, when its owners go"
        guard !body.name.isEmpty else { return "create namespaces refused: \(reach), and a generateName is not known until the server draws it" }
        guard namespaceCascadeRefusal(info, name: body.name, spec: spec, namespaceLabels: { _ in body.labels }) != nil else { return nil }
        return "create namespaces refused: \(reach), and shard \(spec.shard) would not own everything in \(body.name)"
    }

    /// Why deleting namespace `name` would reach objects this shard does not own; nil when it
    /// owns everything in it.
    static func namespaceCascadeRefusal(_ info: RequestInfo, name: String, spec: ShardSpec,
                                        namespaceLabels: (String) -> [String: String]?) -> String? {
        let refused = { (why: String) in "\(info.verb.rawValue) \(info.groupResource) refused: \(why); shard \(spec.shard) does not own all of it" }
        if spec.resources.contains(where: { $0.key == .object }), !HashRange.coverAll(spec.owned.objectHashRanges) {
            return refused("deleting namespace \(name) deletes every object in it, and objects keyed by their controller may belong to other shards")
        }
        if spec.resources.contains(where: { $0.key == .namespace }), !spec.ownsNamespace(name, labels: namespaceLabels(name)) {
            return refused("deleting namespace \(name) deletes every object in it")
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
