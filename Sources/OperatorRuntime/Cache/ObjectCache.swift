import Synchronization

/// An informer's indexed store: objects by key, with a namespace index and an owner index
/// (controller ownerReference uid), safe to read from any task while the reflector writes.
public final class ObjectCache: Sendable {
    struct State {
        var objects: [String: CachedObject] = [:]
        var byNamespace: [String: Set<String>] = [:]
        var byOwner: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func get(_ key: String) -> CachedObject? {
        state.withLock { $0.objects[key] }
    }

    public func get(namespace: String, name: String) -> CachedObject? {
        get(CachedObject.key(namespace: namespace, name: name))
    }

    public var count: Int { state.withLock { $0.objects.count } }

    public func list() -> [CachedObject] {
        state.withLock { Array($0.objects.values) }
    }

    public func list(namespace: String) -> [CachedObject] {
        state.withLock { s in (s.byNamespace[namespace] ?? []).compactMap { s.objects[$0] } }
    }

    /// Objects whose controller ownerReference has this uid.
    public func list(ownedBy uid: String) -> [CachedObject] {
        state.withLock { s in (s.byOwner[uid] ?? []).compactMap { s.objects[$0] } }
    }

    public func keys() -> Set<String> {
        state.withLock { Set($0.objects.keys) }
    }

    /// Stores an object; returns the previous version.
    @discardableResult
    func upsert(_ object: CachedObject) -> CachedObject? {
        state.withLock { s in
            let key = object.key
            let previous = s.objects.updateValue(object, forKey: key)
            if let previous { Self.unindex(previous, key: key, in: &s) }
            Self.index(object, key: key, in: &s)
            return previous
        }
    }

    @discardableResult
    func remove(_ key: String) -> CachedObject? {
        state.withLock { s in
            guard let previous = s.objects.removeValue(forKey: key) else { return nil }
            Self.unindex(previous, key: key, in: &s)
            return previous
        }
    }

    /// Replaces the whole content with a fresh list and returns what changed.
    func replace(with objects: [CachedObject]) -> [CacheDelta] {
        state.withLock { s in
            let deltas = ReplaceDiff.deltas(old: s.objects, new: objects)
            var fresh = State()
            fresh.objects.reserveCapacity(objects.count)
            for object in objects {
                let key = object.key
                fresh.objects[key] = object
                Self.index(object, key: key, in: &fresh)
            }
            s = fresh
            return deltas
        }
    }

    private static func index(_ object: CachedObject, key: String, in s: inout State) {
        s.byNamespace[object.namespace, default: []].insert(key)
        if let owner = object.controllerUID { s.byOwner[owner, default: []].insert(key) }
    }

    private static func unindex(_ object: CachedObject, key: String, in s: inout State) {
        s.byNamespace[object.namespace]?.remove(key)
        if s.byNamespace[object.namespace]?.isEmpty == true { s.byNamespace[object.namespace] = nil }
        if let owner = object.controllerUID {
            s.byOwner[owner]?.remove(key)
            if s.byOwner[owner]?.isEmpty == true { s.byOwner[owner] = nil }
        }
    }
}
