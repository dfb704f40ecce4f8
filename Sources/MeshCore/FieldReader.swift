import KubeModel

/// Every problem found in one custom resource (a ShardingConfig, a FaultInjection, a
/// CircuitBreaker), each as `path: message` in the style of the API server's field errors.
public struct FieldErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}

/// Collects field errors while reading a custom resource's spec.
struct FieldReader {
    var problems: [String] = []

    mutating func fail(_ path: String, _ message: String) { problems.append("\(path): \(message)") }

    /// An object of a configuration, read strictly: another type, or a key outside `known`,
    /// is a problem — a misspelt field is an error, never a setting silently not applied.
    /// `ignored` keys are accepted and documented as having no effect here.
    @discardableResult
    mutating func object(_ value: JSON?, _ path: String, known: Set<String>, ignored: Set<String> = []) -> JSON? {
        guard let value, !value.isNull else { return nil }
        guard let object = value.objectValue else {
            fail(path, "Invalid value: must be an object, not \(value.typeName)")
            return nil
        }
        for key in object.keys where !known.contains(key) && !ignored.contains(key) {
            fail(path.isEmpty ? key : "\(path).\(key)", "Unknown field")
        }
        return value
    }

    /// Each element of a list of objects, read strictly (`object`).
    mutating func objects(_ value: JSON?, _ path: String, known: Set<String>, ignored: Set<String> = []) -> [(String, JSON)] {
        guard let items = array(value, path) else { return [] }
        return items.enumerated().compactMap { i, item in
            let at = "\(path)[\(i)]"
            return object(item, at, known: known, ignored: ignored).map { (at, $0) }
        }
    }

    /// A field of one JSON type: absent or `null` is nil, another type a problem.
    mutating func typed<T>(_ value: JSON?, _ path: String, _ expected: String, _ extract: (JSON) -> T?) -> T? {
        guard let value, !value.isNull else { return nil }
        guard let typed = extract(value) else {
            fail(path, "Invalid value: must be \(expected), not \(value.typeName)")
            return nil
        }
        return typed
    }

    mutating func string(_ value: JSON?, _ path: String) -> String? { typed(value, path, "a string", \.stringValue) }
    mutating func bool(_ value: JSON?, _ path: String) -> Bool? { typed(value, path, "a boolean", \.boolValue) }
    mutating func array(_ value: JSON?, _ path: String) -> [JSON]? { typed(value, path, "a list", \.arrayValue) }
    mutating func number(_ value: JSON?, _ path: String) -> Double? { typed(value, path, "a number", \.doubleValue) }

    /// A field this reader knows but does not implement: present (and not empty) is an error.
    mutating func unsupported(_ value: JSON?, _ path: String, _ why: String) {
        guard let value, !value.isNull, value != .object(JSONObject()), value != .array([]), value != .bool(false) else { return }
        fail(path, "Unsupported value: \(why)")
    }

    mutating func strings(_ value: JSON?, _ path: String) -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
            fail(path, "Invalid value: must be a list of strings")
            return []
        }
        return array.compactMap(\.stringValue)
    }

    mutating func int(_ value: JSON?, _ path: String) -> Int? {
        typed(value, path, "an integer", { $0.intValue.flatMap { Int(exactly: $0) } })
    }

    mutating func selector(_ value: JSON?, _ path: String, required: Bool) -> LabelSelector {
        guard let value, !value.isNull else {
            if required { fail(path, "Required value: select the operator's pods") }
            return .nothing
        }
        do {
            let selector = try LabelSelector(object: value)
            if required, selector.isEverything { fail(path, "Invalid value: an empty selector would select every pod") }
            return selector
        } catch {
            fail(path, "Invalid value: \(error)")
            return .nothing
        }
    }
}
