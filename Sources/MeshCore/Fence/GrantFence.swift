import KubeModel

/// The fence where a write lands: a write stamped by a mesh proxy is refused unless every key
/// it touches (the object before and after the write) is recorded as granted to the stamp's
/// shard at an epoch no later than the stamp's. A proxy paused with a write in hand can
/// outlive its lease and its revocation; its write then carries an epoch older than the new
/// owner's grant, or a shard that no longer holds the key, and is refused here.
///
/// Used natively by the embedded API server and by the manager's validating webhook.
public struct GrantFence: Sendable {
    public let config: MeshConfig
    public let grants: ShardGrants
    /// One spec per recorded (shard, epoch), built once: ownership is judged by the same code
    /// the proxies run.
    let holders: [(grant: ShardGrants.Grant, spec: ShardSpec)]

    public init(config: MeshConfig, grants: ShardGrants) {
        self.config = config
        self.grants = grants
        var groups: [ShardGrants.Grant: Set<Int>] = [:]
        for (unit, grant) in grants.units { groups[grant, default: []].insert(unit) }
        holders = groups.map { grant, units in (grant, config.spec(shard: grant.shard, units: units, epoch: grant.epoch)) }
    }

    /// Whether judging needs namespace labels (namespace sets chosen by selectors).
    public var usesNamespaceLabels: Bool { holders.contains { $0.spec.owned.usesNamespaceLabels } }

    /// Why the write must be refused, or nil. `old` is the object as stored (nil for a
    /// create), `new` the object as it would be stored (nil for a delete).
    public func refusal(_ stamp: WriterStamp, gr: GroupResource, old: ObjectIdentity?, new: ObjectIdentity?,
                        namespaceLabels: (String) -> [String: String]?) -> String? {
        guard let mode = config.resources.first(where: { $0.matches(gr) })?.key else { return nil }
        for (side, identity) in [("as stored", old), ("as written", new)] {
            guard let identity else { continue }
            // A create without a controller owner keys the object by the uid the server
            // drew for it: no shard held that key before, so any shard may make it.
            if mode == .object, old == nil, identity.controllerUID == nil { continue }
            let owners = holders.filter { ShardFence.owns(identity, gr: gr, mode: mode, spec: $0.spec, namespaceLabels: namespaceLabels) }
            let object = "\(gr) \(identity.namespace.isEmpty ? "" : identity.namespace + "/")\(identity.name)"
            if owners.isEmpty {
                return "the mesh fence refused the write of \(stamp): the key of \(object) (\(side)) is granted to no shard of \(config.key) now"
            }
            for owner in owners where owner.grant.shard != stamp.shard || owner.grant.epoch > stamp.epoch {
                return "the mesh fence refused the write of \(stamp): the key of \(object) (\(side)) was granted to shard \(owner.grant.shard) at epoch \(owner.grant.epoch)"
            }
        }
        return nil
    }
}
