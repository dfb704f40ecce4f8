import KubeModel

/// Each shard elects its own leader: requests for the operator's lock object go up as
/// `<name>---<shard>` and come back with the original name.
public enum LeaderLockRename {
    public static func shardLockName(_ name: String, shard: String) -> String { "\(name)---\(shard)" }

    /// Whether the request addresses the lock. A create names its object in the body.
    public static func targetsLock(_ info: RequestInfo, bodyName: String?, lock: ShardSpec.LeaderElectionLock) -> Bool {
        guard info.group == lock.group, info.resource == lock.resource, info.namespace == lock.namespace else { return false }
        switch info.verb {
        case .get, .update, .patch, .delete: return info.name == lock.name
        case .create: return info.name == nil && bodyName == lock.name
        case .list, .watch, .deletecollection: return false
        }
    }

    /// Whether the request addresses a shard's renamed lock (`<name>---…`) directly: another
    /// shard's election, which no shard may touch (its own goes through the plain name).
    public static func targetsRenamedLock(_ info: RequestInfo, bodyName: String?, lock: ShardSpec.LeaderElectionLock) -> Bool {
        guard info.group == lock.group, info.resource == lock.resource, info.namespace == lock.namespace else { return false }
        let prefix = lock.name + "---"
        return (info.name ?? bodyName ?? "").hasPrefix(prefix)
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
