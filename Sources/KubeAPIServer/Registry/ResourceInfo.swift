import KubeModel

/// Everything the server knows about one served resource in one version.
public struct ResourceInfo: Sendable, Equatable {
    public struct PrinterColumn: Sendable, Equatable {
        public var name: String
        public var type: String
        public var format: String
        public var description: String
        public var priority: Int
        /// A simple JSONPath such as `.spec.replicas` or `.status.conditions[0].type`.
        public var jsonPath: String
    }

    public var group: String
    public var version: String
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String] = []
    public var categories: [String] = []
    public var hasStatus: Bool = false
    /// The `scale` subresource, when served.
    public var scale: ScaleSubresource? = nil
    /// Custom resources take merge and JSON patches only (415 for strategic merge).
    public var isCustom: Bool = false
    public var printerColumns: [PrinterColumn] = []
    /// For CRDs: the version's openAPIV3Schema, used in the OpenAPI documents.
    public var schema: JSON? = nil

    public var listKind: String { kind + "List" }
    public var groupVersion: GroupVersion { GroupVersion(group: group, version: version) }
    public var groupResource: GroupResource { GroupResource(group: group, resource: plural) }
    public var apiVersion: String { groupVersion.description }
    public var gvk: GroupVersionKind { GroupVersionKind(group: group, version: version, kind: kind) }

    public static let verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
}
