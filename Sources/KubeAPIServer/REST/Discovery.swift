import KubeModel

/// Legacy discovery documents: /version, /api, /apis, /api/v1, /apis/G and /apis/G/V.
struct Discovery {
    let registry: ResourceRegistry
    let serverAddress: String

    static let version: JSON = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "ctrlmesh-embedded",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
        "compiler": "gc", "platform": "linux/amd64",
    ]

    func document(for parts: [String]) -> JSON? {
        switch parts.count {
        case 1 where parts[0] == "version": return Self.version
        case 1 where parts[0] == "api":
            return ["kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
        case 1 where parts[0] == "apis":
            return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups().map(groupDocument))]
        case 2 where parts[0] == "api" && parts[1] == "v1":
            return resourceList(GroupVersion(group: "", version: "v1"))
        case 2 where parts[0] == "apis":
            guard let group = groups().first(where: { $0.name == parts[1] }) else { return nil }
            var doc = groupDocument(group)
            doc["kind"] = "APIGroup"
            doc["apiVersion"] = "v1"
            return doc
        case 3 where parts[0] == "apis":
            let gv = GroupVersion(group: parts[1], version: parts[2])
            guard registry.groupVersions.contains(gv) else { return nil }
            return resourceList(gv)
        default:
            return nil
        }
    }

    struct Group {
        var name: String
        var versions: [String]
    }

    func groups() -> [Group] {
        var result: [Group] = []
        for gv in registry.groupVersions where !gv.group.isEmpty {
            if let i = result.firstIndex(where: { $0.name == gv.group }) {
                if !result[i].versions.contains(gv.version) { result[i].versions.append(gv.version) }
            } else {
                result.append(Group(name: gv.group, versions: [gv.version]))
            }
        }
        // Preferred version first, as Kubernetes orders them (v1 before v1beta1 before v1alpha1).
        return result.map { Group(name: $0.name, versions: $0.versions.sorted(by: Self.versionPriority)) }
    }

    /// Kubernetes version ordering: GA before beta before alpha, higher numbers first.
    static func versionPriority(_ a: String, _ b: String) -> Bool {
        func rank(_ v: String) -> (Int, Int, Int, String) {
            guard v.hasPrefix("v"), let majorEnd = v.dropFirst().firstIndex(where: { !$0.isNumber }) ?? Optional(v.endIndex),
                  let major = Int(v[v.index(after: v.startIndex)..<majorEnd]) else { return (3, 0, 0, v) }
            let rest = v[majorEnd...]
            if rest.isEmpty { return (0, -major, 0, v) }
            for (i, stage) in ["beta", "alpha"].enumerated() where rest.hasPrefix(stage) {
                let minor = Int(rest.dropFirst(stage.count)) ?? 0
                return (i + 1, -major, -minor, v)
            }
            return (3, 0, 0, v)
        }
        return rank(a) < rank(b)
    }

    func groupDocument(_ group: Group) -> JSON {
        let versions: [JSON] = group.versions.map { ["groupVersion": .string("\(group.name)/\($0)"), "version": .string($0)] }
        return ["name": .string(group.name), "versions": .array(versions), "preferredVersion": versions[0]]
    }

    func resourceList(_ gv: GroupVersion) -> JSON {
        var resources: [JSON] = []
        for r in registry.resources(in: gv) {
            var entry: JSON = ["name": .string(r.plural), "singularName": .string(r.singular), "namespaced": .bool(r.namespaced),
                               "kind": .string(r.kind), "verbs": .array(ResourceInfo.verbs.map { .string($0) })]
            if !r.shortNames.isEmpty { entry["shortNames"] = .array(r.shortNames.map { .string($0) }) }
            if !r.categories.isEmpty { entry["categories"] = .array(r.categories.map { .string($0) }) }
            resources.append(entry)
            if r.hasStatus {
                resources.append(["name": .string("\(r.plural)/status"), "singularName": "", "namespaced": .bool(r.namespaced),
                                  "kind": .string(r.kind), "verbs": ["get", "patch", "update"]])
            }
            if r.scale != nil {
                resources.append(["name": .string("\(r.plural)/scale"), "singularName": "", "namespaced": .bool(r.namespaced),
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]])
            }
            if r.groupResource == APIServer.podsResource {
                resources.append(["name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]])
                resources.append(["name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1",
                                  "kind": "Eviction", "verbs": ["create"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(gv.description), "resources": .array(resources)]
    }
}
