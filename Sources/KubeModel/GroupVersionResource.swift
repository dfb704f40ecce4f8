/// A group and version, as in `apps/v1` (core group: `v1`).
public struct GroupVersion: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var version: String

    public init(group: String, version: String) {
        self.group = group
        self.version = version
    }

    /// Parses an `apiVersion` value.
    public init(apiVersion: String) {
        if let slash = apiVersion.firstIndex(of: "/") {
            group = String(apiVersion[..<slash])
            version = String(apiVersion[apiVersion.index(after: slash)...])
        } else {
            group = ""
            version = apiVersion
        }
    }

    public var description: String { group.isEmpty ? version : "\(group)/\(version)" }
}

/// A group and resource (plural), the identity of a collection regardless of version.
public struct GroupResource: Hashable, Sendable, CustomStringConvertible {
    public var group: String
    public var resource: String

    public init(group: String, resource: String) {
        self.group = group
        self.resource = resource
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }
}

public struct GroupVersionResource: Hashable, Sendable {
    public var group: String
    public var version: String
    public var resource: String

    public init(group: String, version: String, resource: String) {
        self.group = group
        self.version = version
        self.resource = resource
    }

    public var groupVersion: GroupVersion { GroupVersion(group: group, version: version) }
    public var groupResource: GroupResource { GroupResource(group: group, resource: resource) }
}

public struct GroupVersionKind: Hashable, Sendable {
    public var group: String
    public var version: String
    public var kind: String

    public init(group: String, version: String, kind: String) {
        self.group = group
        self.version = version
        self.kind = kind
    }

    public var apiVersion: String { GroupVersion(group: group, version: version).description }
}

extension GroupVersionResource {
    /// Built-in resources more than one component reads or writes.
    public static let pods = GroupVersionResource(group: "", version: "v1", resource: "pods")
    public static let namespaces = GroupVersionResource(group: "", version: "v1", resource: "namespaces")
    public static let serviceAccounts = GroupVersionResource(group: "", version: "v1", resource: "serviceaccounts")
    public static let secrets = GroupVersionResource(group: "", version: "v1", resource: "secrets")
    public static let leases = GroupVersionResource(group: "coordination.k8s.io", version: "v1", resource: "leases")
    public static let events = GroupVersionResource(group: "", version: "v1", resource: "events")
}
