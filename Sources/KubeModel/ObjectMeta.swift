/// Typed access to the metadata of a raw JSON object.
extension JSON {
    public var kind: String? { self["kind"]?.stringValue }
    public var apiVersion: String? { self["apiVersion"]?.stringValue }
    public var metadata: JSONObject? { self["metadata"]?.objectValue }

    public var name: String? { metadataValue("name")?.stringValue }
    public var generateName: String? { metadataValue("generateName")?.stringValue }
    public var namespace: String? { metadataValue("namespace")?.stringValue }
    public var uid: String? { metadataValue("uid")?.stringValue }
    public var resourceVersion: String? { metadataValue("resourceVersion")?.stringValue }
    public var generation: Int64? { metadataValue("generation")?.intValue }
    public var deletionTimestamp: String? { metadataValue("deletionTimestamp")?.stringValue }

    public var labels: [String: String] { stringMap("labels") }
    public var annotations: [String: String] { stringMap("annotations") }

    public var finalizers: [String] {
        metadataValue("finalizers")?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The ownerReference with `controller: true`, if any.
    public var controllerOwnerReference: JSON? {
        metadataValue("ownerReferences")?.arrayValue?.first { $0["controller"]?.boolValue == true }
    }

    public func metadataValue(_ key: String) -> JSON? {
        self["metadata"]?[key]
    }

    public mutating func setMetadata(_ key: String, _ value: JSON?) {
        setValue(value, at: ["metadata", key])
    }

    func stringMap(_ key: String) -> [String: String] {
        guard let object = metadataValue(key)?.objectValue else { return [:] }
        var result: [String: String] = [:]
        for (k, v) in object {
            if let s = v.stringValue { result[k] = s }
        }
        return result
    }
}
