import KubeModel
import MeshCore
import Synchronization

/// The fence where writes land, in the embedded server: every commit made while serving a
/// request a mesh proxy stamped is judged, under the store's lock, against the grant record of
/// the stamp's ShardingConfig as stored at that instant (`GrantFence`). The manager writes a
/// grant before it sends it, so a paused proxy's late write (an older epoch, or a shard that
/// lost the key) is refused even when every check in the proxy was passed long before.
final class MeshWriteFence: Sendable {
    /// The stamp of the request being served.
    @TaskLocal static var stamp: WriterStamp?

    struct Parsed {
        var resourceVersion: UInt64
        var fence: Result<GrantFence, StatusError>
    }

    /// Each config's fence, parsed once per stored version of the config.
    let parsed = Mutex<[String: Parsed]>([:])
    /// Commits refused, for `/metrics`.
    let refusals = Atomic<Int>(0)
    static let namespaces = GroupResource(group: "", resource: "namespaces")

    /// Throws 403 when the commit of `new` over `existing` (nil: a create; `new` nil: a delete)
    /// touches a key the stamp's shard does not hold at its epoch. `lookup` reads the store as
    /// it is under the commit's lock.
    func check(_ gr: GroupResource, existing: StoredObject?, new: JSON?, lookup: (GroupResource, ObjectKey) -> StoredObject?) throws {
        guard let stamp = MeshWriteFence.stamp, let mesh = stamp.mesh else { return }
        let fence: GrantFence
        switch grantFence(mesh, lookup: lookup) {
        case .success(let parsed): fence = parsed
        case .failure(let error):
            refusals.add(1, ordering: .relaxed)
            throw error
        }
        let old = existing.map { ObjectIdentity(json: $0.json) }
        if let refusal = fence.refusal(stamp, gr: gr, old: old, new: new.map(ObjectIdentity.init(json:)),
                                       namespaceLabels: { lookup(MeshWriteFence.namespaces, ObjectKey(namespace: "", name: $0))?.labels }) {
            refusals.add(1, ordering: .relaxed)
            throw StatusError.forbidden(refusal)
        }
    }

    var exposition: String {
        "# HELP ctrlmesh_apiserver_mesh_fence_refusals_total Commits of stamped writes refused by the mesh fence.\n"
            + "# TYPE ctrlmesh_apiserver_mesh_fence_refusals_total counter\n"
            + "ctrlmesh_apiserver_mesh_fence_refusals_total \(refusals.load(ordering: .relaxed))\n"
    }

    func grantFence(_ mesh: String, lookup: (GroupResource, ObjectKey) -> StoredObject?) -> Result<GrantFence, StatusError> {
        let parts = mesh.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3,
              let stored = lookup(GroupResource(group: parts[0], resource: "shardingconfigs"), ObjectKey(namespace: parts[1], name: parts[2])) else {
            return .failure(StatusError.forbidden("the mesh fence refused the write: ShardingConfig \(mesh) named in its stamp does not exist"))
        }
        return parsed.withLock { cache in
            if let hit = cache[mesh], hit.resourceVersion == stored.resourceVersion { return hit.fence }
            let fence: Result<GrantFence, StatusError>
            do {
                let config = try MeshConfig(object: stored.json)
                let grants = ShardGrants(json: stored.json["status"]?["grants"], unitCount: config.unitCount) ?? ShardGrants()
                fence = .success(GrantFence(config: config, grants: grants))
            } catch {
                fence = .failure(StatusError.forbidden("the mesh fence refused the write: ShardingConfig \(mesh) is invalid: \(error)"))
            }
            if cache.count > 1024 { cache.removeAll() }
            cache[mesh] = Parsed(resourceVersion: stored.resourceVersion, fence: fence)
            return fence
        }
    }
}
