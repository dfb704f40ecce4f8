import KubeModel

/// Some objects decide how the API server treats every object of other resources: a
/// CustomResourceDefinition's spec serves, validates, defaults, prunes and converts every
/// object of its resource; an admission webhook or policy sees and rewrites (or refuses) every
/// write it matches; an APIService sends a whole API group to a server of its choosing; and
/// their ownerReferences let the garbage collector delete them (a CRD with every object of its
/// resource). A shard that does not own every object they reach may change their metadata,
/// other than ownerReferences, and the CA bundle their webhooks are called with (an operator
/// rotating its certificate), and nothing else.
public enum DefinitionChange {
    /// Where each kind keeps the CA bundle of the server it calls.
    static let caBundles: [[String]] = [["spec", "conversion", "webhook", "clientConfig", "caBundle"], ["spec", "caBundle"]]

    /// Whether the write from `current` to `future` changes what the object does to the
    /// objects it reaches.
    public static func reachesObjects(current: JSON, future: JSON) -> Bool {
        reachingPart(current) != reachingPart(future)
    }

    /// Everything but the metadata (ownerReferences kept), the status, and the CA bundles.
    static func reachingPart(_ object: JSON) -> JSON {
        var part = object
        for field in ["apiVersion", "kind", "metadata", "status"] { part.setValue(nil, at: [field]) }
        part.setValue(object.metadataValue("ownerReferences") ?? .array([]), at: ["ownerReferences"])
        for path in caBundles where part.value(at: path) != nil { part.setValue(nil, at: path) }
        if case .array(var webhooks)? = part["webhooks"] {
            for index in webhooks.indices where webhooks[index].value(at: ["clientConfig", "caBundle"]) != nil {
                webhooks[index].setValue(nil, at: ["clientConfig", "caBundle"])
            }
            part.setValue(.array(webhooks), at: ["webhooks"])
        }
        return part
    }
}
