import KubeClient
import KubeModel
import Logging
import Synchronization

/// A list-then-watch informer for one resource (optionally one namespace): keeps an indexed
/// cache equal to the server's state and tells its handlers what changed.
///
/// The reflector lists (all pages), replaces the cache with the result, then watches from the
/// list's resourceVersion. A watch that ends is resumed from the last resourceVersion seen
/// (events and bookmarks advance it); a `410 Expired` or `410 Gone` sends it back to a full
/// relist, whose adds and deletes are computed against the cache (`ReplaceDiff`).
public final class Informer: Sendable {
    public let resource: GroupVersionResource
    public let namespace: String?
    public let cache = ObjectCache()
    let client: RESTClient
    let resyncPeriod: Duration?
    let relistGate: RelistGate?
    let logger: Logger

    struct State {
        var handlers: [@Sendable (CacheDelta) -> Void] = []
        /// Set with the handlers' first deltas, under one lock, so a handler added meanwhile
        /// is told about the cache exactly once.
        var synced = false
        var relists = 0
    }

    private let state = Mutex(State())
    private let firstSync = Latch()

    /// `relistGate` is told when a relist after `410 Expired` starts and ends.
    public init(client: RESTClient, resource: GroupVersionResource, namespace: String? = nil, resyncPeriod: Duration? = nil,
                relistGate: RelistGate? = nil, logger: Logger = Logger(label: "ctrlmesh.informer")) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.resyncPeriod = resyncPeriod
        self.relistGate = relistGate
        var logger = logger
        logger[metadataKey: "resource"] = "\(resource.groupResource)"
        self.logger = logger
    }

    /// Adds a handler. One added after the first sync is first told about every cached object.
    public func addHandler(_ handler: @escaping @Sendable (CacheDelta) -> Void) {
        let existing: [CachedObject] = state.withLock { s in
            s.handlers.append(handler)
            return s.synced ? cache.list() : []
        }
        for object in existing { handler(.added(object)) }
    }

    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// How many full lists the reflector has done (the first one included).
    public var listCount: Int { state.withLock { $0.relists } }

    /// Returns once the first list is in the cache, or when the waiting task is cancelled.
    public func waitForSync() async {
        await firstSync.wait()
    }

    /// Runs the reflector (and the resync timer) until the task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reflect() }
            if let period = resyncPeriod {
                group.addTask { await self.resync(every: period) }
            }
            await group.waitForAll()
        }
    }

    private func reflect() async {
        var resourceVersion: String?
        var backoff = ReflectorBackoff()
        // Set between a 410 and the end of the relist it calls for.
        var expired = false
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    resourceVersion = try await relist()
                    if expired {
                        expired = false
                        relistGate?.end()
                    }
                }
                let opened = ContinuousClock.now
                var events = 0
                let watch = try await client.watch(resource, namespace: namespace,
                                                   options: .init(resourceVersion: resourceVersion),
                                                   timeoutSeconds: Int.random(in: 300...600))
                for try await event in watch {
                    resourceVersion = apply(event) ?? resourceVersion
                    events += 1
                }
                // A watch the server ends at once, empty, is retried with backoff, not in a loop.
                if events == 0 && opened.duration(to: .now) < .seconds(1) {
                    try? await Task.sleep(for: backoff.next())
                } else {
                    backoff.reset()
                }
            } catch let error as StatusError where error.code == 410 {
                logger.debug("watch expired; relisting", metadata: ["message": "\(error.message)"])
                resourceVersion = nil
                if !expired {
                    expired = true
                    relistGate?.begin()
                }
            } catch {
                if Task.isCancelled { break }
                let delay = backoff.next()
                logger.info("list/watch failed; retrying", metadata: ["error": "\(error)", "in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        if expired { relistGate?.end() }
    }

    /// Lists everything, page by page, and replaces the cache; returns the list's
    /// resourceVersion. Items are cached as the bytes the server sent, parsed one at a time,
    /// so a relist never holds a page as a parsed tree.
    private func relist() async throws -> String {
        var objects: [CachedObject] = []
        var options = RESTClient.ListOptions(limit: 500)
        var page: ObjectList
        repeat {
            page = try await client.list(resource, namespace: namespace, options: options) { bytes, object in
                objects.append(CachedObject(object, bytes: Array(bytes)))
            }
            options.continueToken = page.continueToken
        } while !(page.continueToken ?? "").isEmpty
        let deltas = cache.replace(with: objects)
        let handlers = state.withLock { s in
            s.relists += 1
            s.synced = true
            return s.handlers
        }
        for delta in deltas { for handler in handlers { handler(delta) } }
        firstSync.fire()
        return page.resourceVersion
    }

    /// Applies one watch event to the cache and the handlers; returns its resourceVersion.
    private func apply(_ event: WatchEvent) -> String? {
        let resourceVersion = event.object.resourceVersion
        let delta: CacheDelta
        switch event.kind {
        case .bookmark:
            return resourceVersion
        case .added, .modified:
            let object = CachedObject(event.object)
            delta = cache.upsert(object).map { .updated(old: $0, new: object) } ?? .added(object)
        case .deleted:
            let object = CachedObject(event.object)
            cache.remove(object.key)
            delta = .deleted(object)
        }
        for handler in state.withLock({ $0.handlers }) { handler(delta) }
        return resourceVersion
    }

    private func resync(every period: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            guard hasSynced, !Task.isCancelled else { continue }
            let handlers = state.withLock { $0.handlers }
            for object in cache.list() {
                for handler in handlers { handler(.updated(old: object, new: object)) }
            }
        }
    }
}

/// The reflector's wait after a failed list or watch: 0.8 s doubling to 30 s, with jitter.
struct ReflectorBackoff {
    private var current: Double = 0.8

    mutating func next() -> Duration {
        let delay = current * Double.random(in: 1.0...1.2)
        current = min(current * 2, 30)
        return .seconds(delay)
    }

    mutating func reset() { current = 0.8 }
}
