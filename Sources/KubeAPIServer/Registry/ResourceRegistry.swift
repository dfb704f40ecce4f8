import KubeModel
import Synchronization

/// The served resources: built-ins plus those of established CRDs. Read on every request,
/// changed when a CRD is created, updated or deleted.
public final class ResourceRegistry: Sendable {
    struct State {
        var builtin: [ResourceInfo]
        /// CRD name -> the resources (one per served version) it contributes.
        var custom: [String: [ResourceInfo]] = [:]
        var byPath: [PathKey: ResourceInfo] = [:]
    }

    struct PathKey: Hashable {
        var group: String
        var version: String
        var plural: String
    }

    let state: Mutex<State>

    public init() {
        var s = State(builtin: BuiltinResources.all)
        ResourceRegistry.reindex(&s)
        state = Mutex(s)
    }

    static func reindex(_ s: inout State) {
        s.byPath = [:]
        for r in s.builtin + s.custom.values.flatMap({ $0 }) {
            s.byPath[PathKey(group: r.group, version: r.version, plural: r.plural)] = r
        }
    }

    public func lookup(group: String, version: String, plural: String) -> ResourceInfo? {
        state.withLock { $0.byPath[PathKey(group: group, version: version, plural: plural)] }
    }

    /// Any served version of a group/resource (storage is per group/resource).
    public func anyVersion(of gr: GroupResource) -> ResourceInfo? {
        state.withLock { s in s.byPath.values.first { $0.group == gr.group && $0.plural == gr.resource } }
    }

    public func resource(forKind kind: String, group: String) -> ResourceInfo? {
        state.withLock { s in s.byPath.values.first { $0.kind == kind && $0.group == group } }
    }

    public var all: [ResourceInfo] {
        state.withLock { s in s.builtin + s.custom.keys.sorted().flatMap { s.custom[$0]! } }
    }

    /// Group versions in discovery order: core first, then groups by name, built-ins before CRDs.
    public var groupVersions: [GroupVersion] {
        var seen: [GroupVersion] = []
        for r in all where !seen.contains(r.groupVersion) { seen.append(r.groupVersion) }
        return seen
    }

    public func resources(in gv: GroupVersion) -> [ResourceInfo] {
        all.filter { $0.groupVersion == gv }
    }

    public func setCustom(crdName: String, resources: [ResourceInfo]) {
        state.withLock { s in
            s.custom[crdName] = resources.isEmpty ? nil : resources
            ResourceRegistry.reindex(&s)
        }
    }

    public func removeCustom(crdName: String) {
        setCustom(crdName: crdName, resources: [])
    }

    public func isCustom(_ gr: GroupResource) -> Bool {
        anyVersion(of: gr)?.isCustom ?? false
    }
}
