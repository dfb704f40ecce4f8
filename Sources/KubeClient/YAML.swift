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

extension YAMLDocument {
    /// Every document of a multi-document stream (`---` separated); empty documents skipped.
    public static func parseAll(_ text: String) throws(ParseError) -> [JSON] {
        var documents: [JSON] = []
        do {
            for node in try Yams.compose_all(yaml: text) {
                let value = try json(node)
                if !value.isNull { documents.append(value) }
            }
        } catch let error as ParseError {
            throw error
        } catch {
            throw ParseError(description: "invalid YAML: \(error)")
        }
        return documents
    }

    /// One document as block YAML. A string is written plain unless it would read back as
    /// something else (a number, a bool, null), then quoted.
    public static func render(_ value: JSON) -> String {
        (try? Yams.serialize(node: node(value), sortKeys: false)) ?? value.jsonString
    }

    static func node(_ value: JSON) -> Node {
        switch value {
        case .null: return Node("null")
        case .bool(let b): return Node(b ? "true" : "false")
        case .number(let text): return Node(text)
        case .string(let text):
            let plain = Node.Scalar(text, .implicit, .plain)
            let readsBack = (try? json(.scalar(plain))) == .string(text) && !text.contains("\n")
            return .scalar(readsBack ? plain : Node.Scalar(text, Tag(.str), .doubleQuoted))
        case .array(let items): return .sequence(Node.Sequence(items.map(node)))
        case .object(let object): return .mapping(Node.Mapping(object.map { (Node($0.0), node($0.1)) }))
        }
    }
}
