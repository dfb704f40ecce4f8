/// The body of a delete (`DeleteOptions`), decoded as the API server decodes it: JSON or
/// Kubernetes protobuf, a JSON object whose known fields have their Go types. Anything else is
/// a 400, so a delete with a body nobody can read is refused rather than carried out with the
/// body ignored (the server) or with its precondition dropped (the proxy).
public enum DeleteOptions {
    /// The options as JSON; an empty body is empty options.
    public static func decode(contentType: String?, body: [UInt8]) -> Result<JSON, StatusError> {
        guard !body.isEmpty else { return .success(.object(JSONObject())) }
        let options: JSON
        if body.starts(with: KubernetesProtobuf.magic) {
            do {
                options = try KubernetesProtobuf.decode(body)
            } catch {
                return .failure(.badRequest("error decoding DeleteOptions: \(error)"))
            }
        } else {
            do {
                options = try JSON.parse(body)
            } catch {
                return .failure(.badRequest("error decoding DeleteOptions: \(error)"))
            }
        }
        return checked(options)
    }

    /// Options already parsed (the `deleteOptions` of an Eviction), checked as `decode` checks.
    public static func checked(_ options: JSON) -> Result<JSON, StatusError> {
        if let problem = typeProblem(options) { return .failure(.badRequest("error decoding DeleteOptions: \(problem)")) }
        return .success(options)
    }

    /// Whether a delete orphans the object's dependents (releases them by removing their
    /// reference to it), from the options or the query, as the API server reads either.
    public static func orphans(_ options: JSON, query: QueryParameters) -> Bool {
        if let policy = options["propagationPolicy"]?.stringValue ?? query["propagationPolicy"] { return policy == "Orphan" }
        if let flag = options["orphanDependents"]?.boolValue { return flag }
        return query["orphanDependents"].map { $0.lowercased() == "true" } ?? false
    }

    static func typeProblem(_ options: JSON) -> String? {
        guard case .object(let fields) = options else { return "the body must be a JSON object, not \(options.typeName)" }
        for (key, value) in fields where !value.isNull {
            switch key {
            case "kind":
                guard let kind = value.stringValue else { return "kind must be a string" }
                if !kind.isEmpty, kind != "DeleteOptions" { return "the body is a \(kind), not DeleteOptions" }
            case "apiVersion", "propagationPolicy":
                if value.stringValue == nil { return "\(key) must be a string" }
            case "gracePeriodSeconds":
                if value.intValue == nil { return "gracePeriodSeconds must be an integer" }
            case "orphanDependents":
                if value.boolValue == nil { return "orphanDependents must be a boolean" }
            case "dryRun":
                guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else { return "dryRun must be a list of strings" }
            case "preconditions":
                guard case .object(let preconditions) = value else { return "preconditions must be an object" }
                for (field, text) in preconditions where !text.isNull && (field == "uid" || field == "resourceVersion") && text.stringValue == nil {
                    return "preconditions.\(field) must be a string"
                }
            default:
                break
            }
        }
        return nil
    }
}
