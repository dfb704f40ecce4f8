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

    mutating func strings(_ value: JSON?, _ path: String) -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
            fail(path, "Invalid value: must be a list of strings")
            return []
        }
        return array.compactMap(\.stringValue)
    }

    mutating func int(_ value: JSON?, _ path: String) -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let number = value.intValue else {
            fail(path, "Invalid value: must be an integer")
            return nil
        }
        return Int(number)
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
