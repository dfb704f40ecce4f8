import KubeModel

/// Each shard elects its own leader: requests for the operator's lock object go up as
/// `<name>---<shard>` and come back with the original name.
public enum LeaderLockRename {
    public static func shardLockName(_ name: String, shard: String) -> String { "\(name)---\(shard)" }

    /// Whether the request is for the lock's collection (its resource in its namespace), where
    /// the lock and other shards' renamed locks live.
    public static func inLockCollection(_ info: RequestInfo, lock: ShardSpec.LeaderElectionLock) -> Bool {
        info.group == lock.group && info.resource == lock.resource && info.namespace == lock.namespace
    }

    /// Whether the request addresses the lock. A create names its object in the body.
    public static func targetsLock(_ info: RequestInfo, bodyName: String?, lock: ShardSpec.LeaderElectionLock) -> Bool {
        guard inLockCollection(info, lock: lock) else { return false }
        switch info.verb {
        case .get, .update, .patch, .delete: return info.name == lock.name
        case .create: return info.name == nil && bodyName == lock.name
        case .list, .watch, .deletecollection: return false
        }
    }

    /// Whether the request addresses a shard's renamed lock (`<name>---…`) directly: another
    /// shard's election, which no shard may touch (its own goes through the plain name). A
    /// create names it in the body, by name or by a `generateName` prefix.
    public static func targetsRenamedLock(_ info: RequestInfo, bodyName: String?, lock: ShardSpec.LeaderElectionLock) -> Bool {
        guard inLockCollection(info, lock: lock) else { return false }
        let prefix = lock.name + "---"
        return (info.name ?? bodyName ?? "").hasPrefix(prefix)
    }

    /// Whether a collection request reaches the lock's collection: other shards' locks are
    /// among what it lists or deletes.
    public static func collectionHoldsLocks(_ info: RequestInfo, lock: ShardSpec.LeaderElectionLock) -> Bool {
        info.group == lock.group && info.resource == lock.resource && (info.namespace == nil || info.namespace == lock.namespace)
    }

    /// Whether an object is another shard's renamed lock (`<name>---<other shard>`): what a
    /// deletecollection this shard asked for must leave alone.
    public static func isAnotherShardsLock(gr: GroupResource, namespace: String?, name: String, lock: ShardSpec.LeaderElectionLock,
                                           shard: String) -> Bool {
        gr == GroupResource(group: lock.group, resource: lock.resource) && namespace == lock.namespace
            && name.hasPrefix(lock.name + "---") && name != shardLockName(lock.name, shard: shard)
    }

    /// The request target with the object name (the segment after the resource) replaced.
    public static func target(_ target: RequestTarget, resource: String, name: String, newName: String) -> RequestTarget {
        var segments = target.segments
        for i in segments.indices.dropLast() where segments[i] == resource && segments[i + 1] == name {
            segments[i + 1] = newName
            break
        }
        return RequestTarget(segments: segments, query: target.query)
    }
}
