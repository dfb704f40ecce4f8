import DequeModule
import KubeModel
import Synchronization

/// The object store: every collection, one global resourceVersion counter, a bounded history
/// of events for watches that resume from a resourceVersion, and the live watchers.
///
/// All changes go through `commit` under one lock, so resourceVersions, persistence order and
/// event order agree. Writes compute their new object outside the lock and commit with the
/// resourceVersion they started from (optimistic concurrency, like etcd's compare-and-swap).
public final class ObjectStore: Sendable {
    struct Collection {
        var objects: [ObjectKey: StoredObject] = [:]
        /// Cached list order; nil after a create or delete.
        var sortedKeys: [ObjectKey]? = nil
    }

    struct State {
        var resourceVersion: UInt64
        var collections: [GroupResource: Collection] = [:]
        var history: Deque<StoreEvent> = []
        /// The resourceVersion just before the oldest event in history: a watch from an older
        /// resourceVersion has missed events and gets 410 Expired.
        var historyFloor: UInt64
        var watchers: [GroupResource: [Int: WatchSubscription]] = [:]
        var nextWatcherID = 0
        /// Sees every event of every resource in commit order (the garbage collector).
        var observers: [@Sendable (StoreEvent) -> Void] = []
    }

    let state: Mutex<State>
    /// Judges every commit before it is made, under the lock, with a view of the store as it
    /// is (the mesh's write fence); throwing refuses the commit.
    public typealias CommitGuard = @Sendable (GroupResource, _ existing: StoredObject?, _ new: JSON?,
                                              _ lookup: (GroupResource, ObjectKey) -> StoredObject?) throws -> Void
    /// The guard in a struct: a function stored as the lock's own value is re-abstracted on
    /// every `withLock` and written back wrapped in a thunk, so each commit would add a frame to
    /// every later call of it until the stack overflowed (at about 17,000 commits).
    struct Guard {
        let judge: CommitGuard
    }
    let commitGuard: Mutex<Guard?> = Mutex(nil)
    let persistence: any Persistence
    public let historyLimit: Int
    /// The largest object stored, serialized: etcd's default `--max-request-bytes` (1.5 MiB).
    public static let maxObjectBytes = 1_572_864
    public let watcherBufferLimit: Int

    public init(persistence: any Persistence = NoPersistence(), historyLimit: Int = 20_000, watcherBufferLimit: Int = 200_000) throws {
        let loaded = try persistence.load()
        var s = State(resourceVersion: loaded.resourceVersion, historyFloor: loaded.resourceVersion)
        for (gr, object) in loaded.objects {
            s.collections[gr, default: Collection()].objects[object.key] = object
        }
        self.state = Mutex(s)
        self.persistence = persistence
        self.historyLimit = historyLimit
        self.watcherBufferLimit = watcherBufferLimit
    }

    public var currentResourceVersion: UInt64 { state.withLock { $0.resourceVersion } }

    /// Sets the guard every later commit must pass.
    public func guardCommits(_ judge: @escaping CommitGuard) {
        commitGuard.withLock { $0 = Guard(judge: judge) }
    }

    public func get(_ gr: GroupResource, _ key: ObjectKey) -> StoredObject? {
        state.withLock { $0.collections[gr]?.objects[key] }
    }

    /// Objects in key order, optionally in one namespace, with the list's resourceVersion.
    public func list(_ gr: GroupResource, namespace: String? = nil) -> (items: [StoredObject], resourceVersion: UInt64) {
        let all = page(gr, namespace: namespace, limit: nil) { _ in true }
        return (all.items, all.resourceVersion)
    }

    /// One page of a list, as a paged LIST reads it.
    public struct Page: Sendable {
        /// Up to the limit of the objects that match, in list order.
        public var items: [StoredObject]
        /// Whether an object past the page matches too (a continue token is due).
        public var more: Bool
        /// Objects of the listed range past the page, matching or not.
        public var remaining: Int
        public var resourceVersion: UInt64
    }

    /// The objects that `matches`, in key order (optionally in one namespace and after a key),
    /// up to `limit`. Matching runs under the store's lock and stops at the first match past
    /// the page, so a page costs what it returns, not what is left of the collection: a
    /// client paging through 20,000 objects 500 at a time reads each object about once.
    public func page(_ gr: GroupResource, namespace: String? = nil, after: ObjectKey? = nil, limit: Int?,
                     matching matches: (StoredObject) -> Bool) -> Page {
        state.withLock { s in
            let keys = ObjectStore.sortedKeys(gr, in: &s)
            guard let collection = s.collections[gr] else { return Page(items: [], more: false, remaining: 0, resourceVersion: s.resourceVersion) }
            var start = after.map { after in keys.partitionPoint { $0 <= after } } ?? keys.startIndex
            var end = keys.endIndex
            if let namespace {
                start = max(start, keys.partitionPoint { $0.namespace < namespace })
                end = max(start, keys.partitionPoint { $0.namespace <= namespace })
            }
            var page = Page(items: [], more: false, remaining: 0, resourceVersion: s.resourceVersion)
            var index = start
            while index < end {
                let object = collection.objects[keys[index]]!
                if matches(object) {
                    if let limit, page.items.count >= limit {
                        page.more = true
                        break
                    }
                    page.items.append(object)
                }
                index += 1
            }
            let last = page.items.last.map { last in keys.partitionPoint { $0 <= last.key } } ?? start
            page.remaining = end - last
            return page
        }
    }

    /// A collection's keys in list order, cached until the next create or delete.
    static func sortedKeys(_ gr: GroupResource, in s: inout State) -> [ObjectKey] {
        guard var collection = s.collections[gr] else { return [] }
        if let cached = collection.sortedKeys { return cached }
        let keys = collection.objects.keys.sorted()
        s.collections[gr] = nil  // drop the second reference so the dictionary is not copied
        collection.sortedKeys = keys
        s.collections[gr] = collection
        return keys
    }

    public func count(_ gr: GroupResource, namespace: String? = nil) -> Int {
        state.withLock { s in
            guard let c = s.collections[gr] else { return 0 }
            guard let namespace else { return c.objects.count }
            return c.objects.keys.reduce(0) { $0 + ($1.namespace == namespace ? 1 : 0) }
        }
    }

    public enum Precondition: Sendable {
        /// Create: the key must not exist.
        case mustNotExist
        /// Update or delete: the object must still be at this resourceVersion.
        case resourceVersion(UInt64)
    }

    public enum Change: Sendable {
        case put(JSON)
        case delete
    }

    /// Commits one change atomically: checks the precondition, assigns the next
    /// resourceVersion, persists, records history and notifies watchers.
    @discardableResult
    public func commit(_ gr: GroupResource, _ key: ObjectKey, _ change: Change, precondition: Precondition) throws -> StoredObject {
        let judge = commitGuard.withLock { $0?.judge }
        return try state.withLock { (s: inout State) throws -> StoredObject in
            let existing = s.collections[gr]?.objects[key]
            switch precondition {
            case .mustNotExist:
                if existing != nil { throw StatusError.alreadyExists(gr, key.name) }
            case .resourceVersion(let rv):
                guard let existing else { throw StatusError.notFound(gr, key.name) }
                if existing.resourceVersion != rv { throw StoreConflict() }
            }
            if let judge {
                let new: JSON? = if case .put(let json) = change { json } else { nil }
                try judge(gr, existing, new) { s.collections[$0]?.objects[$1] }
            }
            let rv = s.resourceVersion + 1
            let event: StoreEvent
            switch change {
            case .put(var json):
                json.setMetadata("resourceVersion", .string(String(rv)))
                let stored = StoredObject(json: json, resourceVersion: rv)
                if stored.bytes.count > ObjectStore.maxObjectBytes {
                    throw StatusError(code: 413, reason: .requestEntityTooLarge,
                                      message: "the object would be \(stored.bytes.count) bytes, above the store's limit of \(ObjectStore.maxObjectBytes) (etcd's default request limit)",
                                      name: key.name, group: gr.group, kind: gr.resource)
                }
                try persistence.put(gr, stored)
                s.collections[gr, default: Collection()].objects[key] = stored
                if existing == nil { s.collections[gr]!.sortedKeys = nil }
                event = StoreEvent(type: existing == nil ? .added : .modified, resource: gr, object: stored, previous: existing)
            case .delete:
                guard let existing else { throw StatusError.notFound(gr, key.name) }
                // The deleted object carries the deletion's resourceVersion, as watchers expect.
                var json = existing.json
                json.setMetadata("resourceVersion", .string(String(rv)))
                let stored = StoredObject(json: json, resourceVersion: rv)
                try persistence.delete(gr, key, resourceVersion: rv)
                s.collections[gr]!.objects[key] = nil
                s.collections[gr]!.sortedKeys = nil
                event = StoreEvent(type: .deleted, resource: gr, object: stored, previous: existing)
            }
            s.resourceVersion = rv
            record(event, in: &s)
            return event.object
        }
    }

    func record(_ event: StoreEvent, in s: inout State) {
        s.history.append(event)
        if s.history.count > historyLimit {
            let dropped = s.history.removeFirst()
            s.historyFloor = dropped.resourceVersion
        }
        for observer in s.observers { observer(event) }
        guard let watchers = s.watchers[event.resource] else { return }
        for (id, watcher) in watchers where !watcher.deliver(.event(event)) {
            s.watchers[event.resource]![id] = nil
        }
    }

    /// Starts a watch. With `fromResourceVersion` the events after it are replayed from history
    /// (410 Expired when history no longer reaches back that far); without it the caller gets
    /// the current objects to send as synthetic ADDED events. Registration and the snapshot are
    /// taken under one lock, so no event falls between them.
    public func watch(_ gr: GroupResource, fromResourceVersion: UInt64?) throws(StatusError) -> (subscription: WatchSubscription, initial: [StoredObject], replay: [StoreEvent]) {
        try state.withLock { (s: inout State) throws(StatusError) -> (WatchSubscription, [StoredObject], [StoreEvent]) in
            var initial: [StoredObject] = []
            var replay: [StoreEvent] = []
            if let from = fromResourceVersion {
                if from < s.historyFloor {
                    throw StatusError.expired("too old resource version: \(from) (\(s.historyFloor + 1))")
                }
                // History is in resourceVersion order: find the first event after `from`.
                let start = s.history.partitionPoint { $0.resourceVersion <= from }
                for event in s.history[start...] where event.resource == gr { replay.append(event) }
            } else {
                let objects = s.collections[gr]?.objects ?? [:]
                initial = ObjectStore.sortedKeys(gr, in: &s).map { objects[$0]! }
            }
            let id = s.nextWatcherID
            s.nextWatcherID += 1
            let subscription = WatchSubscription(id: id, resource: gr, bufferLimit: watcherBufferLimit, store: self)
            s.watchers[gr, default: [:]][id] = subscription
            return (subscription, initial, replay)
        }
    }

    /// Registers a callback for every later event of every resource, in commit order, and
    /// returns the objects stored now (no event falls between the two). The callback runs under
    /// the store's lock, so it must only hand the event on.
    public func observe(_ observer: @escaping @Sendable (StoreEvent) -> Void) -> [(GroupResource, StoredObject)] {
        state.withLock { s in
            s.observers.append(observer)
            return s.collections.flatMap { gr, collection in collection.objects.values.map { (gr, $0) } }
        }
    }

    func unsubscribe(_ subscription: WatchSubscription) {
        state.withLock { s in
            s.watchers[subscription.resource]?[subscription.id] = nil
        }
    }

    /// Queues a bookmark carrying the current resourceVersion, under the lock that orders events.
    public func queueBookmark(_ subscription: WatchSubscription) {
        state.withLock { s in
            subscription.deliver(.bookmark(resourceVersion: s.resourceVersion))
        }
    }

    public var watcherCount: Int {
        state.withLock { s in s.watchers.values.reduce(0) { $0 + $1.count } }
    }

    /// Every group/resource with stored objects (used when a CRD or namespace goes away).
    public func resources() -> [GroupResource] {
        state.withLock { Array($0.collections.keys) }
    }
}

/// The object changed between read and commit; the caller re-reads and retries, or answers 409.
public struct StoreConflict: Error {}

extension RandomAccessCollection {
    /// The first index whose element does not satisfy `belongsBefore` (which must be monotone).
    func partitionPoint(_ belongsBefore: (Element) -> Bool) -> Index {
        var low = startIndex
        var count = distance(from: startIndex, to: endIndex)
        while count > 0 {
            let half = count / 2
            let mid = index(low, offsetBy: half)
            if belongsBefore(self[mid]) {
                low = index(after: mid)
                count -= half + 1
            } else {
                count = half
            }
        }
        return low
    }
}
