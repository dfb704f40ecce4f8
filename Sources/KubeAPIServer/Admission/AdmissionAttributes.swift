import KubeModel

/// The facts about a write that admission decides on.
struct AdmissionAttributes: Sendable {
    enum Operation: String, Sendable {
        case create = "CREATE"
        case update = "UPDATE"
        case delete = "DELETE"
    }

    var operation: Operation
    var resource: ResourceInfo
    var subresource: String?
    var namespace: String
    var name: String
    var dryRun: Bool
}
