import KubeModel
import Yams

extension YAMLDocument {
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
            let readsBack = Composer.resolve(text, plain: true, tag: nil) == .string(text) && !text.contains("\n")
            return .scalar(readsBack ? Node.Scalar(text, .implicit, .plain) : Node.Scalar(text, Tag(.str), .doubleQuoted))
        case .array(let items): return .sequence(Node.Sequence(items.map(node)))
        case .object(let object): return .mapping(Node.Mapping(object.map { (Node($0.0), node($0.1)) }))
        }
    }
}
