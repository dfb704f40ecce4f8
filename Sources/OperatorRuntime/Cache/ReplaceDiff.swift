/// What a relist changes, as client-go's DeltaFIFO `Replace` computes it: items new to the
/// cache are adds, items whose resourceVersion moved are updates, and cached keys missing from
/// the list are deletes (their last known state, since the delete itself was not seen).
/// Unchanged items produce nothing: a periodic resync re-delivers them when asked for.
public enum CacheDelta: Sendable {
    case added(CachedObject)
    case updated(old: CachedObject, new: CachedObject)
    case deleted(CachedObject)
}

public enum ReplaceDiff {
    public static func deltas(old: [String: CachedObject], new: [CachedObject]) -> [CacheDelta] {
        var deltas: [CacheDelta] = []
        var seen = Set<String>()
        seen.reserveCapacity(new.count)
        for object in new {
            let key = object.key
            seen.insert(key)
            if let previous = old[key] {
                if previous.resourceVersion != object.resourceVersion || previous.uid != object.uid {
                    deltas.append(.updated(old: previous, new: object))
                }
            } else {
                deltas.append(.added(object))
            }
        }
        for (key, object) in old where !seen.contains(key) {
            deltas.append(.deleted(object))
        }
        return deltas
    }
}
