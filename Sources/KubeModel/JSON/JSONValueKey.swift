/// A hashable stand-in for a JSON value, equal exactly when the values are equal under
/// `JSON ==` (object key order ignored, numbers by value), so sets and indexes of values
/// replace the pairwise searches that made list merges quadratic.
struct JSONValueKey: Hashable {
    let text: String

    init(_ value: JSON) {
        var out = ""
        JSONValueKey.write(value, into: &out)
        text = out
    }

    static func write(_ value: JSON, into out: inout String) {
        switch value {
        case .null: out += "n"
        case .bool(let b): out += b ? "t" : "f"
        case .number(let literal):
            if let integer = Int64(literal) {
                out += "i\(integer)"
            } else if let double = Double(literal) {
                if double == double.rounded(), let integer = Int64(exactly: double) { out += "i\(integer)" } else { out += "d\(double)" }
            } else {
                out += "?\(literal)"
            }
        case .string(let s):
            out += "s\(s.utf8.count):"
            out += s
        case .array(let items):
            out += "[\(items.count):"
            for item in items { write(item, into: &out) }
        case .object(let object):
            out += "{\(object.count):"
            for (key, member) in object.sorted(by: { $0.0 < $1.0 }) {
                out += "\(key.utf8.count):"
                out += key
                write(member, into: &out)
            }
        }
    }
}
