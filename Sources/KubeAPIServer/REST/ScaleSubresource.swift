import KubeModel

/// The `scale` subresource of a resource: where its replica counts and selector live, and its
/// `autoscaling/v1` Scale view (`kubectl scale`, autoscalers).
public struct ScaleSubresource: Sendable, Equatable {
    /// Paths such as `.spec.replicas`.
    public var specReplicasPath: String
    public var statusReplicasPath: String
    /// A path to the selector as a string (custom resources), or nil to render `.spec.selector`
    /// (the built-in workloads).
    public var labelSelectorPath: String?

    /// The built-in workloads' scale.
    static let workload = ScaleSubresource(specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: nil)

    /// A CRD version's `subresources.scale`.
    init?(crd scale: JSON?) {
        guard let scale, let spec = scale["specReplicasPath"]?.stringValue, let status = scale["statusReplicasPath"]?.stringValue else {
            return nil
        }
        self.init(specReplicasPath: spec, statusReplicasPath: status, labelSelectorPath: scale["labelSelectorPath"]?.stringValue)
    }

    init(specReplicasPath: String, statusReplicasPath: String, labelSelectorPath: String?) {
        self.specReplicasPath = specReplicasPath
        self.statusReplicasPath = statusReplicasPath
        self.labelSelectorPath = labelSelectorPath
    }

    static func path(_ text: String) -> [String] {
        text.split(separator: ".").map(String.init)
    }

    /// The object seen as a Scale.
    func view(of object: JSON) -> JSON {
        var metadata = JSONObject()
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let value = object.metadataValue(field) { metadata[field] = value }
        }
        var status: JSON = ["replicas": object.value(at: Self.path(statusReplicasPath)) ?? .int(0)]
        if let labelSelectorPath {
            if let selector = object.value(at: Self.path(labelSelectorPath)) { status["selector"] = selector }
        } else if let selector = try? LabelSelector(object: object["spec"]?["selector"]), !selector.isEverything {
            status["selector"] = .string(selector.text)
        }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(metadata),
                "spec": ["replicas": object.value(at: Self.path(specReplicasPath)) ?? .int(0)], "status": status]
    }

    /// The object with the replicas a Scale asks for.
    func applying(_ scale: JSON, to object: JSON) throws(StatusError) -> JSON {
        guard let replicas = scale["spec"]?["replicas"]?.intValue, replicas >= 0 else {
            throw StatusError.invalid(kind: "Scale", group: "autoscaling", name: object.name ?? "", causes: [
                .init(reason: "FieldValueInvalid", message: "Invalid value: must be a non-negative integer", field: "spec.replicas"),
            ])
        }
        var updated = object
        updated.setValue(.int64(replicas), at: Self.path(specReplicasPath))
        return updated
    }
}
