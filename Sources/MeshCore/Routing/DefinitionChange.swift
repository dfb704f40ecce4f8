import KubeModel

/// A CustomResourceDefinition's spec decides how the API server serves, validates, defaults,
/// prunes and converts every object of its resource: a conversion webhook or a schema default
/// rewrites objects on their way in and out, `served: false` takes them away. A shard that does
/// not own every object of a sharded resource may change the definition's metadata and the CA
/// bundle of its conversion webhook (an operator rotating its certificate), and nothing else.
public enum DefinitionChange {
    static let caBundle = ["conversion", "webhook", "clientConfig", "caBundle"]

    /// Whether the write from `current` to `future` changes what the definition does to its
    /// objects.
    public static func reachesObjects(current: JSON, future: JSON) -> Bool {
        servingPart(current) != servingPart(future)
    }

    static func servingPart(_ definition: JSON) -> JSON {
        var spec = definition["spec"] ?? .null
        if spec.value(at: caBundle) != nil { spec.setValue(nil, at: caBundle) }
        return spec
    }
}
