import KubeModel

/// The query options the API server decodes before it serves a request, refused as it refuses
/// them: an integer option that does not parse is a 400 (Go's decoding of `ListOptions`), an
/// unknown `fieldValidation` a 422 (`ValidateFieldValidation`). A negative `limit` is no limit,
/// as the real store treats it.
enum QueryOptions {
    static let fieldValidationValues = ["", "Ignore", "Strict", "Warn"]

    static func check(_ c: RequestContext) throws(StatusError) {
        switch c.info.verb {
        case .list, .watch, .deletecollection:
            for key in ["limit", "timeoutSeconds"] {
                do {
                    _ = try c.query.int(key)
                } catch {
                    throw StatusError.badRequest(error.message)
                }
            }
        case .create, .update, .patch:
            if let value = c.query["fieldValidation"], !fieldValidationValues.contains(value) {
                let kind = c.info.verb == .create ? "CreateOptions" : c.info.verb == .update ? "UpdateOptions" : "PatchOptions"
                let supported = fieldValidationValues.map { "\"\($0)\"" }.joined(separator: ", ")
                throw StatusError.invalid(kind: kind, group: "meta.k8s.io", name: "", causes: [
                    .init(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(value)\": supported values: \(supported)",
                          field: "fieldValidation"),
                ])
            }
        case .get, .delete:
            break
        }
    }
}
