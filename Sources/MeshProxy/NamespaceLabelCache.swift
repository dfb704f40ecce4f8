import KubeClient
import KubeModel
import Logging
import MeshCore
import NIOCore
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
        while !Task.isCancelled {
            guard state.spec?.owned.usesNamespaceLabels == true else {
                labels.withLock { $0 = nil }
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            do {
                try await syncOnce(upstream: upstream, state: state)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("namespace label watch: \(error); relisting")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func syncOnce(upstream: APIConnection, state: ShardState) async throws {
        let listResponse = try await upstream.send(method: .GET, target: "/api/v1/namespaces", headers: ["accept": "application/json"])
        let listBody = try await listResponse.body.collect(upTo: 256 << 20)
        let list = try JSON.parse(listBody.readableBytesView)
        guard listResponse.status == .ok, let rv = list["metadata"]?["resourceVersion"]?.stringValue else {
            throw StatusError(statusObject: list) ?? StatusError.internalError("namespace list failed")
        }
        var fresh: [String: [String: String]] = [:]
        for item in list["items"]?.arrayValue ?? [] {
            if let name = item.name { fresh[name] = item.labels }
        }
        await replace(with: fresh, state: state)

        let watch = try await upstream.send(method: .GET, target: "/api/v1/namespaces?watch=true&allowWatchBookmarks=true&resourceVersion=\(rv)",
                                            headers: ["accept": "application/json"])
        var pending: [UInt8] = []
        for try await chunk in watch.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[..<newline]
                defer { pending.removeSubrange(...newline) }
                guard !line.isEmpty, let event = try? JSON.parse(line) else { continue }
                let type = event["type"]?.stringValue
                if type == "ERROR" { return }
                guard let object = event["object"], let name = object.name, type != "BOOKMARK" else { continue }
                await update(name, to: type == "DELETED" ? nil : object.labels, state: state)
            }
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
