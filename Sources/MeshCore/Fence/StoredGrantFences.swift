import KubeModel
import Synchronization

/// The fence where a stamped write lands, judged over the objects as they are stored: the
/// stamp names its ShardingConfig, and that config's grant record (`status.grants`) as stored
/// at the instant of the commit decides (`GrantFence`). Each config is parsed once per stored
/// version.
///
/// The embedded API server runs it natively under its store's lock; it is handed to the server
/// as a function by whoever starts it, so the server does not import the mesh core.
public final class StoredGrantFences: Sendable {
    /// An object as stored under the commit's lock, by resource, namespace and name.
    public typealias Lookup = (GroupResource, _ namespace: String, _ name: String) -> (json: JSON, resourceVersion: UInt64)?

    struct Parsed {
        var resourceVersion: UInt64
        var fence: Result<GrantFence, FenceRefusal>
    }

    struct FenceRefusal: Error {
        var message: String
    }

    /// Each config's fence, parsed once per stored version of the config.
    let parsed = Mutex<[String: Parsed]>([:])
    static let namespaces = GroupResource(group: "", resource: "namespaces")

    public init() {}

    /// `refusal` as a function value: what the embedded server's `writeFence` option takes.
    public var judge: @Sendable (WriterStamp, GroupResource, JSON?, JSON?, Lookup) -> String? {
        { [self] in refusal($0, gr: $1, old: $2, new: $3, lookup: $4) }
    }

    /// Why the commit of `new` over `old` (nil: a create; `new` nil: a delete) made under
    /// `stamp` must be refused, or nil. A stamp that names no config is not judged (a spec
    /// written by hand; its writes are only audited).
    public func refusal(_ stamp: WriterStamp, gr: GroupResource, old: JSON?, new: JSON?, lookup: Lookup) -> String? {
        guard let mesh = stamp.mesh else { return nil }
        let fence: GrantFence
        switch grantFence(mesh, lookup: lookup) {
        case .success(let parsed): fence = parsed
        case .failure(let refusal): return refusal.message
        }
        return fence.refusal(stamp, gr: gr, old: old.map(ObjectIdentity.init(json:)), new: new.map(ObjectIdentity.init(json:)),
                             namespaceLabels: { name in lookup(StoredGrantFences.namespaces, "", name)?.json.labels })
    }

    func grantFence(_ mesh: String, lookup: Lookup) -> Result<GrantFence, FenceRefusal> {
        let parts = mesh.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3, let stored = lookup(GroupResource(group: parts[0], resource: "shardingconfigs"), parts[1], parts[2]) else {
            return .failure(FenceRefusal(message: "the mesh fence refused the write: ShardingConfig \(mesh) named in its stamp does not exist"))
        }
        return parsed.withLock { cache in
            if let hit = cache[mesh], hit.resourceVersion == stored.resourceVersion { return hit.fence }
            let fence: Result<GrantFence, FenceRefusal>
            do {
                let config = try MeshConfig(object: stored.json)
                let grants = ShardGrants(json: stored.json["status"]?["grants"], unitCount: config.unitCount) ?? ShardGrants()
                fence = .success(GrantFence(config: config, grants: grants))
            } catch {
                fence = .failure(FenceRefusal(message: "the mesh fence refused the write: ShardingConfig \(mesh) is invalid: \(error)"))
            }
            if cache.count > 1024 { cache.removeAll() }
            cache[mesh] = Parsed(resourceVersion: stored.resourceVersion, fence: fence)
            return fence
        }
    }
}
