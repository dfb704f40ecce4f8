import KubeModel
import Synchronization

/// Why a commit made for a request a mesh proxy stamped must be refused, or nil: `old` is the
/// object as stored (nil for a create), `new` as it would be stored (nil for a delete), and
/// `lookup` reads the store as it is under the commit's lock. The mesh core's
/// `StoredGrantFences.refusal` is the one the CLI gives the server.
public typealias StampedCommitJudge = @Sendable (_ stamp: WriterStamp, _ gr: GroupResource, _ old: JSON?, _ new: JSON?,
                                                  _ lookup: (GroupResource, _ namespace: String, _ name: String) -> (json: JSON, resourceVersion: UInt64)?) -> String?

/// The fence where writes land, in the embedded server: every commit made while serving a
/// request a mesh proxy stamped is judged, under the store's lock, by the judge the server was
/// started with. The manager writes a grant before it sends it, so a paused proxy's late
/// write (an older epoch, or a shard that lost the key) is refused even when every check in
/// the proxy was passed long before.
final class StampedWriteFence: Sendable {
    /// The stamp of the request being served.
    @TaskLocal static var stamp: WriterStamp?

    let judge: StampedCommitJudge
    /// Commits refused, for `/metrics`.
    let refusals = Atomic<Int>(0)

    init(judge: @escaping StampedCommitJudge) {
        self.judge = judge
    }

    /// Throws 403 when the commit of `new` over `existing` must be refused.
    func check(_ gr: GroupResource, existing: StoredObject?, new: JSON?, lookup: (GroupResource, ObjectKey) -> StoredObject?) throws {
        guard let stamp = StampedWriteFence.stamp else { return }
        let refusal = judge(stamp, gr, existing?.json, new) { gr, namespace, name in
            lookup(gr, ObjectKey(namespace: namespace, name: name)).map { ($0.json, $0.resourceVersion) }
        }
        if let refusal {
            refusals.add(1, ordering: .relaxed)
            throw StatusError.forbidden(refusal)
        }
    }

    var exposition: String {
        "# HELP ctrlmesh_apiserver_mesh_fence_refusals_total Commits of stamped writes refused by the mesh fence.\n"
            + "# TYPE ctrlmesh_apiserver_mesh_fence_refusals_total counter\n"
            + "ctrlmesh_apiserver_mesh_fence_refusals_total \(refusals.load(ordering: .relaxed))\n"
    }
}
