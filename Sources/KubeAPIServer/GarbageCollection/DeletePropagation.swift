import KubeModel

/// What a delete does to the object's dependents (`DeleteOptions.propagationPolicy`, or the
/// older `orphanDependents`), from the body or the query as the real API server accepts both.
enum DeletePropagation: String, Sendable {
    case background = "Background"
    case foreground = "Foreground"
    case orphan = "Orphan"

    init(options: JSON, query: QueryParameters) throws(StatusError) {
        let policy = options["propagationPolicy"]?.stringValue ?? query["propagationPolicy"]
        let orphan = options["orphanDependents"]?.boolValue ?? query["orphanDependents"].map { $0 == "true" }
        if let policy {
            guard let value = DeletePropagation(rawValue: policy) else {
                throw StatusError.invalid(kind: "DeleteOptions", group: "", name: "", causes: [
                    .init(reason: "FieldValueNotSupported",
                          message: "Unsupported value: \"\(policy)\": supported values: \"Background\", \"Foreground\", \"Orphan\"",
                          field: "propagationPolicy"),
                ])
            }
            if orphan != nil {
                throw StatusError.invalid(kind: "DeleteOptions", group: "", name: "", causes: [
                    .init(reason: "FieldValueForbidden", message: "Forbidden: orphanDependents and propagationPolicy cannot both be set",
                          field: "propagationPolicy"),
                ])
            }
            self = value
        } else {
            self = orphan == true ? .orphan : .background
        }
    }
}

extension APIServer {
    /// Removes the owner's references from its dependents before the owner goes, so the
    /// garbage collector leaves them alone.
    func orphanDependents(of owner: StoredObject) throws {
        for gr in store.resources() {
            guard let resource = registry.anyVersion(of: gr) else { continue }
            let namespace: String? = owner.namespace.isEmpty ? nil : owner.namespace
            if namespace != nil && !resource.namespaced { continue }
            for listed in store.list(gr, namespace: namespace).items {
                var current: StoredObject? = listed
                // Re-read and retry when the dependent changes under us.
                for _ in 0..<Self.maxRetries {
                    guard let object = current, let references = object.json.metadataValue("ownerReferences")?.arrayValue,
                          references.contains(where: { $0["uid"]?.stringValue == owner.uid }) else { break }
                    var json = object.json
                    let kept = references.filter { $0["uid"]?.stringValue != owner.uid }
                    json.setMetadata("ownerReferences", kept.isEmpty ? nil : .array(kept))
                    do {
                        try store.commit(gr, object.key, .put(json), precondition: .resourceVersion(object.resourceVersion))
                        break
                    } catch is StoreConflict {
                        current = store.get(gr, object.key)
                    }
                }
            }
        }
    }
}
