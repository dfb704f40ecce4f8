/// How a list field of a built-in kind merges under a strategic merge patch: the
/// `patchStrategy`/`patchMergeKey` tags of the Kubernetes Go types, keyed by field name and,
/// where one name means two things (`ports`), by the enclosing field.
public enum ListMergeStrategy: Sendable, Equatable {
    /// The patch's list replaces the original (no patch strategy).
    case replace
    /// Objects merge by the value of a key field.
    case mergeByKey(String)
    /// A set of primitives: the union, in order.
    case mergePrimitives
}

public struct StrategicMergeSchema: Sendable {
    public init() {}

    /// `path` is the chain of field names from the object root to the list (array indexes omitted).
    public func strategy(forListAt path: [String]) -> ListMergeStrategy {
        guard let field = path.last else { return .replace }
        switch field {
        case "containers", "initContainers", "ephemeralContainers", "volumes", "imagePullSecrets",
             "env", "resourceClaims", "schedulingGates":
            return .mergeByKey("name")
        case "volumeMounts": return .mergeByKey("mountPath")
        case "volumeDevices": return .mergeByKey("devicePath")
        case "ownerReferences": return .mergeByKey("uid")
        case "conditions": return .mergeByKey("type")
        case "hostAliases": return .mergeByKey("ip")
        case "topologySpreadConstraints": return .mergeByKey("topologyKey")
        case "finalizers": return .mergePrimitives
        case "ports":
            let parent = path.dropLast().last
            if parent == "containers" || parent == "initContainers" || parent == "ephemeralContainers" {
                return .mergeByKey("containerPort")
            }
            // Service and endpoint ports merge by port number.
            return path.first == "spec" ? .mergeByKey("port") : .replace
        default:
            return .replace
        }
    }
}
