/// The checks every object body gets before anything reads its metadata, in the API server
/// and in the proxy alike: the two must read one body the same way, or a body could show the
/// proxy one owner and the server another.
///
/// `decodeError` is what Go's typed decoding of `ObjectMeta` refuses (the API server answers
/// 400); `ownerReferenceCauses` is what `ValidateOwnerReferences` refuses (422).
public enum ObjectMetaCheck {
    /// The first field of `metadata` whose JSON type its Go type cannot hold, as a message;
    /// nil when the metadata decodes. `null` stands for unset, as in Go.
    public static func decodeError(_ object: JSON) -> String? {
        guard case .object(let root) = object else { return "the body must be a JSON object, not \(object.typeName)" }
        for key in ["apiVersion", "kind"] {
            if let value = root[key], !value.isNull, value.stringValue == nil { return typeError(key, value, "string") }
        }
        guard let metadata = root["metadata"], !metadata.isNull else { return nil }
        guard case .object(let fields) = metadata else { return typeError("metadata", metadata, "object") }
        for (key, value) in fields where !value.isNull {
            let path = "metadata.\(key)"
            switch key {
            case "name", "generateName", "namespace", "uid", "resourceVersion", "selfLink", "creationTimestamp",
                 "deletionTimestamp":
                if value.stringValue == nil { return typeError(path, value, "string") }
            case "generation", "deletionGracePeriodSeconds":
                if value.intValue == nil { return typeError(path, value, "integer") }
            case "labels", "annotations":
                guard case .object(let map) = value else { return typeError(path, value, "map of strings") }
                for (entry, text) in map where text.stringValue == nil { return typeError("\(path).\(entry)", text, "string") }
            case "finalizers":
                guard case .array(let items) = value else { return typeError(path, value, "list of strings") }
                for (i, item) in items.enumerated() where item.stringValue == nil { return typeError("\(path)[\(i)]", item, "string") }
            case "ownerReferences":
                guard case .array(let items) = value else { return typeError(path, value, "list of owner references") }
                for (i, item) in items.enumerated() {
                    guard case .object(let reference) = item else { return typeError("\(path)[\(i)]", item, "object") }
                    for (field, fieldValue) in reference where !fieldValue.isNull {
                        switch field {
                        case "apiVersion", "kind", "name", "uid":
                            if fieldValue.stringValue == nil { return typeError("\(path)[\(i)].\(field)", fieldValue, "string") }
                        case "controller", "blockOwnerDeletion":
                            if fieldValue.boolValue == nil { return typeError("\(path)[\(i)].\(field)", fieldValue, "boolean") }
                        default: break
                        }
                    }
                }
            default:
                break
            }
        }
        return nil
    }

    static func typeError(_ path: String, _ value: JSON, _ expected: String) -> String {
        "\(path): a \(value.typeName) cannot be decoded as a \(expected)"
    }

    /// Owner references the API server refuses: a reference without apiVersion, kind, name or
    /// uid, and more than one reference with `controller: true`.
    public static func ownerReferenceCauses(_ object: JSON) -> [StatusError.Cause] {
        let references = object.metadataValue("ownerReferences")?.arrayValue ?? []
        var causes: [StatusError.Cause] = []
        for (i, reference) in references.enumerated() {
            for field in ["apiVersion", "kind", "name", "uid"] where (reference[field]?.stringValue ?? "").isEmpty {
                causes.append(.init(reason: "FieldValueRequired", message: "Required value: \(field) must not be empty",
                                    field: "metadata.ownerReferences[\(i)].\(field)"))
            }
        }
        let controllers = references.filter { $0["controller"]?.boolValue == true }
        if controllers.count > 1 {
            let names = controllers.map { "\($0["kind"]?.stringValue ?? "")/\($0["name"]?.stringValue ?? "")" }
            causes.append(.init(reason: "FieldValueInvalid",
                                message: "Invalid value: only one reference can have Controller set to true; found \"true\" in references for \(names.joined(separator: " and "))",
                                field: "metadata.ownerReferences"))
        }
        return causes
    }
}
