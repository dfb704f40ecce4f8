import Foundation
import KubeModel

/// The API server's rules for what a write may change, as pure functions of old and new
/// objects: system fields on create, what an update keeps, generation, the status subresource,
/// and name and label validation.
enum ObjectRules {
    static let generateNameAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    static func generatedName(prefix: String) -> String {
        var suffix = ""
        for _ in 0..<5 { suffix.append(generateNameAlphabet.randomElement()!) }
        return String(prefix.prefix(58)) + suffix
    }

    /// Checks kind/apiVersion against the endpoint and the namespace against the URL; fills the
    /// namespace; applies generateName. Throws BadRequest for a body that names another place.
    static func checkBody(_ object: inout JSON, info: ResourceInfo, urlNamespace: String?) throws(StatusError) {
        guard case .object = object else { throw StatusError.badRequest("the request body must be a JSON object") }
        if let kind = object["kind"], kind.stringValue != info.kind {
            throw StatusError.badRequest("the API version in the data (\(object.apiVersion ?? "")) and the kind (\(kind.stringValue ?? "")) do not match the endpoint \(info.apiVersion) \(info.kind)")
        }
        if let apiVersion = object["apiVersion"], GroupVersion(apiVersion: apiVersion.stringValue ?? "").group != info.group {
            throw StatusError.badRequest("the API version in the data (\(apiVersion.stringValue ?? "")) does not match the expected API version (\(info.apiVersion))")
        }
        object["kind"] = .string(info.kind)
        object["apiVersion"] = .string(info.apiVersion)
        if object["metadata"] == nil { object["metadata"] = .object(JSONObject()) }
        guard case .object = object["metadata"]! else { throw StatusError.badRequest("metadata must be an object") }
        if info.namespaced {
            let bodyNamespace = object.namespace ?? ""
            if let urlNamespace, !bodyNamespace.isEmpty, bodyNamespace != urlNamespace {
                throw StatusError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            if bodyNamespace.isEmpty, let urlNamespace { object.setMetadata("namespace", .string(urlNamespace)) }
        } else {
            object.setMetadata("namespace", nil)
        }
    }

    /// What the typed decoding of a built-in kind refuses (400) and what it changes: ConfigMap
    /// `data` holds strings and `binaryData` base64; Secret `data` holds base64 and the
    /// write-only `stringData` is folded into `data` (its keys win), as the API server does.
    static func normalizeBuiltin(_ object: inout JSON, info: ResourceInfo) throws(StatusError) {
        guard info.group.isEmpty else { return }
        switch info.plural {
        case "configmaps":
            try checkMap(object["data"], "data", base64: false)
            try checkMap(object["binaryData"], "binaryData", base64: true)
        case "secrets":
            try checkMap(object["data"], "data", base64: true)
            try checkMap(object["stringData"], "stringData", base64: false)
            if let stringData = object["stringData"]?.objectValue {
                var data = object["data"]?.objectValue ?? JSONObject()
                for (key, value) in stringData {
                    data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
                }
                object["data"] = .object(data)
            }
            object["stringData"] = nil
        default:
            break
        }
    }

    static func checkMap(_ value: JSON?, _ field: String, base64: Bool) throws(StatusError) {
        guard let value, !value.isNull else { return }
        guard case .object(let map) = value else {
            throw StatusError.badRequest("error decoding request body: \(field): a \(value.typeName) cannot be decoded as a map of strings")
        }
        for (key, entry) in map {
            guard let text = entry.stringValue else {
                throw StatusError.badRequest("error decoding request body: \(field).\(key): a \(entry.typeName) cannot be decoded as a string")
            }
            if base64, Data(base64Encoded: text) == nil {
                throw StatusError.badRequest("error decoding request body: \(field).\(key): illegal base64 data")
            }
        }
    }

    /// System fields of a new object. With a status subresource, status starts empty (a
    /// namespace starts Active), as the API server's create strategies reset it.
    static func prepareCreate(_ object: inout JSON, info: ResourceInfo, now: String) {
        if info.hasStatus {
            object["status"] = info.groupResource == GroupResource(group: "", resource: "namespaces") ? ["phase": "Active"] : nil
        }
        object.setMetadata("uid", .string(UUID().uuidString.lowercased()))
        object.setMetadata("creationTimestamp", .string(now))
        object.setMetadata("generation", .int(1))
        object.setMetadata("resourceVersion", nil)
        object.setMetadata("deletionTimestamp", nil)
        object.setMetadata("deletionGracePeriodSeconds", nil)
        object.setMetadata("selfLink", nil)
    }

    /// The stored result of an update (PUT or patch) of `old` with `new`.
    static func mergeUpdate(old: JSON, new: JSON, info: ResourceInfo, subresource: String?) -> JSON {
        var result: JSON
        if subresource == "status" {
            // Only status changes through a custom resource's /status. A built-in kind's status
            // strategy resets the spec alone: metadata changes made through /status stay (but
            // a pod keeps its owner references).
            result = old
            result["status"] = new["status"]
            if !info.isCustom, case .object(let metadata)? = new["metadata"] {
                result["metadata"] = .object(metadata)
                for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "name", "generateName"] {
                    result.setMetadata(field, old.metadataValue(field))
                }
                if info.kind == "Pod" { result.setMetadata("ownerReferences", old.metadataValue("ownerReferences")) }
                result.setMetadata("selfLink", nil)
            }
        } else {
            result = new
            result["kind"] = .string(info.kind)
            result["apiVersion"] = .string(info.apiVersion)
            if info.hasStatus { result["status"] = old["status"] }
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "name"] {
                result.setMetadata(field, old.metadataValue(field))
            }
            if old.metadataValue("generateName") != nil, result.metadataValue("generateName") == nil {
                result.setMetadata("generateName", old.metadataValue("generateName"))
            }
            result.setMetadata("selfLink", nil)
        }
        result.setMetadata("resourceVersion", old.metadataValue("resourceVersion"))
        let generation = old.generation ?? 1
        result.setMetadata("generation", .int64(specChanged(old: old, new: result, info: info) ? generation + 1 : generation))
        return result
    }

    /// Anything outside metadata (and outside status when status is a subresource) changed.
    static func specChanged(old: JSON, new: JSON, info: ResourceInfo) -> Bool {
        func body(_ o: JSON) -> JSON {
            var copy = o
            copy["metadata"] = nil
            if info.hasStatus { copy["status"] = nil }
            return copy
        }
        return body(old) != body(new)
    }

    /// `TotalAnnotationSizeLimitB` of the API server's ObjectMeta validation.
    static let totalAnnotationBytes = 256 * 1024
    /// `MaxSecretSize`, the limit of a ConfigMap's data and binaryData together.
    static let configMapDataBytes = 1024 * 1024

    /// Name, generateName, label, annotation and owner reference validation; 422 with causes.
    static func validate(_ object: JSON, info: ResourceInfo) throws(StatusError) {
        var causes: [StatusError.Cause] = []
        let name = object.name ?? ""
        if name.isEmpty {
            causes.append(.init(reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name"))
        } else if info.plural == "namespaces" {
            if !NameValidation.isDNS1123Label(name) {
                causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')", field: "metadata.name"))
            }
        } else if !NameValidation.isDNS1123Subdomain(name) {
            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", field: "metadata.name"))
        }
        if let labels = object.metadataValue("labels") {
            if let map = labels.objectValue {
                for (k, v) in map {
                    if !NameValidation.isQualifiedName(k) {
                        causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(k)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", field: "metadata.labels"))
                    }
                    if let value = v.stringValue {
                        if !NameValidation.isLabelValue(value) {
                            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(value)\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", field: "metadata.labels"))
                        }
                    } else {
                        causes.append(.init(reason: "FieldValueTypeInvalid", message: "Invalid value: label values must be strings", field: "metadata.labels"))
                    }
                }
            } else if !labels.isNull {
                causes.append(.init(reason: "FieldValueTypeInvalid", message: "Invalid value: labels must be an object", field: "metadata.labels"))
            }
        }
        if let annotations = object.metadataValue("annotations"), !annotations.isNull {
            if let map = annotations.objectValue {
                if map.contains(where: { $0.1.stringValue == nil }) {
                    causes.append(.init(reason: "FieldValueTypeInvalid", message: "Invalid value: annotation values must be strings", field: "metadata.annotations"))
                }
                let size = map.reduce(0) { $0 + $1.0.utf8.count + ($1.1.stringValue?.utf8.count ?? 0) }
                if size > totalAnnotationBytes {
                    causes.append(.init(reason: "FieldValueTooLong", message: "Too long: must have at most \(totalAnnotationBytes) bytes", field: "metadata.annotations"))
                }
            } else {
                causes.append(.init(reason: "FieldValueTypeInvalid", message: "Invalid value: annotations must be an object", field: "metadata.annotations"))
            }
        }
        causes += ObjectMetaCheck.ownerReferenceCauses(object)
        if info.group.isEmpty, info.plural == "configmaps" {
            let size = ["data", "binaryData"].reduce(0) { total, field in
                total + (object[field]?.objectValue?.reduce(0) { $0 + $1.0.utf8.count + ($1.1.stringValue?.utf8.count ?? 0) } ?? 0)
            }
            if size > configMapDataBytes {
                causes.append(.init(reason: "FieldValueTooLong", message: "Too long: must have at most \(configMapDataBytes) bytes", field: "data"))
            }
        }
        if !causes.isEmpty {
            throw StatusError.invalid(kind: info.kind, group: info.group, name: name, causes: causes)
        }
    }
}
