import KubeModel
import Yams

/// YAML documents as `JSON` values: kubeconfig files and spec files are YAML (JSON is YAML).
public enum YAMLDocument {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The first document of `text`; an empty document is `null`.
    public static func parse(_ text: String) throws(ParseError) -> JSON {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ParseError(description: "invalid YAML: \(error)")
        }
        guard let node else { return .null }
        return try json(node)
    }

    static func json(_ node: Node) throws(ParseError) -> JSON {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            if let b = Bool.construct(from: scalar) { return .bool(b) }
            if let i = Int.construct(from: scalar) { return .number(String(i)) }
            if scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty { return .null }
            if let d = Double.construct(from: scalar), d.isFinite { return .number(String(d)) }
            return .string(scalar.string)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard case .scalar(let k) = key else { throw ParseError(description: "invalid YAML: mapping keys must be scalars") }
                object[k.string] = try json(value)
            }
            return .object(object)
        case .sequence(let sequence):
            var array: [JSON] = []
            for element in sequence { array.append(try json(element)) }
            return .array(array)
        case .alias:
            throw ParseError(description: "invalid YAML: aliases are not supported")
        }
    }
}
