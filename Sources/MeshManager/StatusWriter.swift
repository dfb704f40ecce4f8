import KubeClient
import KubeModel
import Logging
import MeshCore

/// Writes each changed ShardingConfig's status (a merge patch of the status subresource),
/// adding each shard's current leader, read from the operator's renamed lock.
struct StatusWriter {
    let client: RESTClient
    let logger: Logger
    static let leases = GroupVersionResource(group: "coordination.k8s.io", version: "v1", resource: "leases")

    func write(_ changes: [(key: String, snapshot: MeshSnapshot?, invalid: String?)]) async {
        for change in changes {
            let parts = change.key.split(separator: "/", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { continue }
            let resource = GroupVersionResource(group: parts[0], version: "v1alpha1", resource: "shardingconfigs")
            var status: JSON
            if let invalid = change.invalid {
                status = ["conditions": [MeshSnapshot.condition("Degraded", true, "InvalidSpec", invalid),
                                         MeshSnapshot.condition("Ready", false, "InvalidSpec", "the spec is invalid")]]
            } else if let snapshot = change.snapshot {
                status = snapshot.status
                await addLeaders(&status, namespace: parts[1], key: change.key, lock: snapshot.lock)
            } else {
                continue
            }
            do {
                _ = try await client.patch(resource, namespace: parts[1], name: parts[2], type: .merge, ["status": status],
                                           subresource: "status")
            } catch let error as StatusError where error.reason == .notFound {
                continue
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot write the status of ShardingConfig \(change.key): \(error)")
            }
        }
    }

    /// Each shard's leader: the holder of the operator's lock as the proxies renamed it.
    func addLeaders(_ status: inout JSON, namespace: String, key: String, lock: ShardSpec.LeaderElectionLock?) async {
        guard let lock, lock.resource == "leases", var shards = status["shards"]?.arrayValue else { return }
        for index in shards.indices {
            guard let shard = shards[index]["name"]?.stringValue else { continue }
            let name = LeaderLockRename.shardLockName(lock.name, shard: shard)
            if let lease = try? await client.get(StatusWriter.leases, namespace: lock.namespace, name: name),
               let holder = lease["spec"]?["holderIdentity"]?.stringValue, !holder.isEmpty {
                shards[index].setValue(.string(holder), at: ["leader"])
            }
        }
        status.setValue(.array(shards), at: ["shards"])
    }
}
