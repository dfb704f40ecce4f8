import KubeClient
import KubeModel
import Logging
import MeshCore
import OperatorRuntime

/// Writes each changed ShardingConfig's status (a merge patch of the status subresource),
/// adding each shard's current leader, read from the operator's renamed lock in the leader's
/// Lease informer cache (no request of its own).
struct StatusWriter {
    let client: RESTClient
    let leases: ObjectCache
    let logger: Logger

    func write(_ changes: [(key: String, snapshot: MeshSnapshot?, invalid: String?)]) async {
        for change in changes {
            let parts = change.key.split(separator: "/", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { continue }
            let resource = MeshConfig.resource(group: parts[0])
            var status: JSON
            if let invalid = change.invalid {
                status = ["conditions": [MeshSnapshot.condition("Degraded", true, "InvalidSpec", invalid),
                                         MeshSnapshot.condition("Ready", false, "InvalidSpec", "the spec is invalid")]]
            } else if let snapshot = change.snapshot {
                status = snapshot.status
                addLeaders(&status, lock: snapshot.lock)
            } else {
                continue
            }
            guard await client.writeStatus(status, of: resource, namespace: parts[1], name: parts[2], logger: logger) else { return }
        }
    }

    /// Each shard's leader: the holder of the operator's lock as the proxies renamed it.
    func addLeaders(_ status: inout JSON, lock: ShardSpec.LeaderElectionLock?) {
        guard let lock, lock.resource == "leases", var shards = status["shards"]?.arrayValue else { return }
        for index in shards.indices {
            guard let shard = shards[index]["name"]?.stringValue else { continue }
            let name = LeaderLockRename.shardLockName(lock.name, shard: shard)
            if let holder = leases.get(namespace: lock.namespace, name: name)?.json["spec"]?["holderIdentity"]?.stringValue, !holder.isEmpty {
                shards[index].setValue(.string(holder), at: ["leader"])
            }
        }
        status.setValue(.array(shards), at: ["shards"])
    }
}
