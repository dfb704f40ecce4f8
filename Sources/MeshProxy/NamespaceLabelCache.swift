import KubeClient
import KubeModel
import Logging
import MeshCore
import Synchronization

/// Namespace labels, for specs that own namespaces by label selector. Kept by a list and
/// watch of namespaces while the spec needs them; a namespace whose labels move it into or
/// out of the shard ends the namespace-keyed streams so their clients relist.
public final class NamespaceLabelCache: Sendable {
    let labels = Mutex<[String: [String: String]]?>(nil)

    public init() {}

    /// Labels of a namespace; nil while unknown (selectors then fail closed).
    public var lookup: @Sendable (String) -> [String: String]? {
        { [self] name in self.labels.withLock { $0?[name] } }
    }

    /// Keeps the cache while the spec uses namespace selectors; returns when cancelled.
    public func run(upstream: APIConnection, state: ShardState, logger: Logger) async {
        // The proxy's own reads are not rate-limited: they share the operator's connection.
        let client = RESTClient(connection: upstream, qps: nil)
        while !Task.isCancelled {
            guard state.spec?.owned.usesNamespaceLabels == true else {
                labels.withLock { $0 = nil }
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            do {
                try await syncOnce(client: client, state: state)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("namespace label watch: \(error); relisting")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Lists the namespaces, then follows their watch until it ends; an ERROR event (410
    /// Expired) ends it quietly, and the caller relists.
    func syncOnce(client: RESTClient, state: ShardState) async throws {
        let list = try await client.list(.namespaces)
        var fresh: [String: [String: String]] = [:]
        for item in list.items {
            if let name = item.name { fresh[name] = item.labels }
        }
        await replace(with: fresh, state: state)

        let watch = try await client.watch(.namespaces, options: .init(resourceVersion: list.resourceVersion))
        do {
            for try await event in watch where event.kind != .bookmark {
                guard let name = event.object.name else { continue }
                await update(name, to: event.kind == .deleted ? nil : event.object.labels, state: state)
            }
        } catch is StatusError {
            return
        }
    }

    func replace(with fresh: [String: [String: String]], state: ShardState) async {
        let previous = labels.withLock { old -> [String: [String: String]]? in
            defer { old = fresh }
            return old
        }
        guard let spec = state.spec, let previous else { return }
        let names = Set(previous.keys).union(fresh.keys)
        if names.contains(where: { spec.ownsNamespace($0, labels: previous[$0]) != spec.ownsNamespace($0, labels: fresh[$0]) }) {
            await state.namespaceScopeChanged()
        }
    }

    func update(_ name: String, to new: [String: String]?, state: ShardState) async {
        let old = labels.withLock { map -> [String: String]? in
            let old = map?[name]
            map?[name] = new
            return old
        }
        guard let spec = state.spec else { return }
        if spec.ownsNamespace(name, labels: old) != spec.ownsNamespace(name, labels: new) {
            await state.namespaceScopeChanged()
        }
    }
}
