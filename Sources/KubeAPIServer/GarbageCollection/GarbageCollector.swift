import KubeModel
import Logging
import Synchronization

/// Deletes objects whose owners are gone, asynchronously after the owner's deletion as
/// Kubernetes' garbage collector does, and finishes foreground deletions. It follows the store's
/// events in commit order through an `OwnerIndex` and deletes through the API server's own
/// delete path, so dependents' finalizers and watch events behave as for any delete.
final class GarbageCollector: Sendable {
    private let events: AsyncStream<StoreEvent>
    private let index = Mutex(OwnerIndex())
    private let initial: [OwnerIndex.Action]

    init(store: ObjectStore) {
        let (stream, continuation) = AsyncStream<StoreEvent>.makeStream()
        events = stream
        let present = store.observe { continuation.yield($0) }
        initial = index.withLock { $0.load(present.map { ($0.0, $0.1.json) }) }
    }

    /// Runs until cancelled.
    func run(server: APIServer) async {
        perform(initial, server: server)
        for await event in events {
            let actions = index.withLock { $0.apply(event.type, resource: event.resource, object: event.object.json) }
            perform(actions, server: server)
        }
    }

    private func perform(_ actions: [OwnerIndex.Action], server: APIServer) {
        for action in actions {
            do {
                switch action {
                case .delete(let ref):
                    try server.collect(ref)
                case .finishForeground(let ref):
                    try server.finishForegroundDeletion(ref)
                }
            } catch {
                server.logger.warning("garbage collection failed", metadata: ["action": "\(action)", "error": "\(error)"])
            }
        }
    }
}

extension APIServer {
    /// Deletes a dependent whose owners are gone, unless it was replaced meanwhile.
    func collect(_ ref: OwnerIndex.Ref) throws {
        guard let resource = registry.anyVersion(of: ref.resource) else { return }
        for _ in 0..<Self.maxRetries {
            guard let current = store.get(ref.resource, ref.key), current.uid == ref.uid else { return }
            do {
                try deleteObject(resource, current)
                return
            } catch is StoreConflict {
                continue
            }
        }
    }

    /// Removes the `foregroundDeletion` finalizer; the object goes when no finalizer is left.
    func finishForegroundDeletion(_ ref: OwnerIndex.Ref) throws {
        guard let resource = registry.anyVersion(of: ref.resource) else { return }
        for _ in 0..<Self.maxRetries {
            guard let current = store.get(ref.resource, ref.key), current.uid == ref.uid else { return }
            var json = current.json
            let remaining = json.finalizers.filter { $0 != OwnerIndex.foregroundFinalizer }
            guard remaining.count != json.finalizers.count else { return }
            do {
                if remaining.isEmpty {
                    try commitWithLifecycle(resource, ref.key, .delete, precondition: .resourceVersion(current.resourceVersion), new: nil)
                } else {
                    json.setMetadata("finalizers", .array(remaining.map { .string($0) }))
                    try store.commit(ref.resource, ref.key, .put(json), precondition: .resourceVersion(current.resourceVersion))
                }
                return
            } catch is StoreConflict {
                continue
            }
        }
    }
}
