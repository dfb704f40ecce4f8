/// A parsed label selector: requirements joined by AND, as `k8s.io/apimachinery/pkg/labels`.
public struct LabelSelector: Sendable, Equatable {
    public enum Operator: String, Sendable {
        case equals = "="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    public struct Requirement: Sendable, Equatable {
        public var key: String
        public var op: Operator
        public var values: [String]

        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key
            self.op = op
            self.values = values
        }

        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals, .in:
                guard let value else { return false }
                return values.contains(value)
            case .notEquals, .notIn:
                guard let value else { return true }
                return !values.contains(value)
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .greaterThan, .lessThan:
                guard let value, let actual = Int64(value), let bound = values.first.flatMap({ Int64($0) }) else { return false }
                return op == .greaterThan ? actual > bound : actual < bound
            }
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement] = []) {
        self.requirements = requirements
    }

    /// Matches everything.
    public static let everything = LabelSelector()

    /// A selector that matches nothing (a `LabelSelector` object that cannot be satisfied).
    public static let nothing = LabelSelector(requirements: [Requirement(key: "\u{0}", op: .exists)])

    public var isEverything: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// The selector in the query-string form `init(parsing:)` reads (`status.labelSelector`).
    public var text: String {
        requirements.map { r in
            switch r.op {
            case .equals: "\(r.key)=\(r.values.first ?? "")"
            case .notEquals: "\(r.key)!=\(r.values.first ?? "")"
            case .in: "\(r.key) in (\(r.values.joined(separator: ",")))"
            case .notIn: "\(r.key) notin (\(r.values.joined(separator: ",")))"
            case .exists: r.key
            case .doesNotExist: "!\(r.key)"
            case .greaterThan: "\(r.key)>\(r.values.first ?? "")"
            case .lessThan: "\(r.key)<\(r.values.first ?? "")"
            }
        }.joined(separator: ",")
    }
}

public struct SelectorParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension LabelSelector {
    /// Parses the query-string form: `a=b,c!=d,e in (f,g),!h,i>3`.
    public init(parsing text: String) throws(SelectorParseError) {
        var lexer = SelectorLexer(text)
        var requirements: [Requirement] = []
        if lexer.atEnd {
            self.init()
            return
        }
        while true {
            requirements.append(try lexer.requirement())
            if lexer.atEnd { break }
            guard lexer.consume(",") else { throw SelectorParseError("unable to parse requirement: expected ',' in \"\(text)\"") }
            if lexer.atEnd { throw SelectorParseError("unable to parse requirement: trailing ',' in \"\(text)\"") }
        }
        self.init(requirements: requirements)
    }

    /// A `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`), read strictly: an unknown field, a value of another
    /// type, `In`/`NotIn` without values or `Exists`/`DoesNotExist` with values are errors (a
    /// selector read leniently selects more than it says). Absent or `null` selects everything.
    public init(object: JSON?) throws(SelectorParseError) {
        var requirements: [Requirement] = []
        guard let object, !object.isNull else {
            self.init()
            return
        }
        guard case .object(let o) = object else { throw SelectorParseError("a label selector must be an object, not \(object.typeName)") }
        for key in o.keys where key != "matchLabels" && key != "matchExpressions" {
            throw SelectorParseError("unknown field \"\(key)\" in a label selector (matchLabels, matchExpressions)")
        }
        if let labels = o["matchLabels"], !labels.isNull {
            guard case .object(let map) = labels else { throw SelectorParseError("matchLabels must be an object") }
            for (k, v) in map {
                guard let value = v.stringValue else { throw SelectorParseError("matchLabels values must be strings") }
                requirements.append(Requirement(key: k, op: .equals, values: [value]))
            }
        }
        if let expressions = o["matchExpressions"], !expressions.isNull {
            guard case .array(let list) = expressions else { throw SelectorParseError("matchExpressions must be a list") }
            for expression in list {
                guard case .object(let fields) = expression else { throw SelectorParseError("each of matchExpressions must be an object") }
                for key in fields.keys where !["key", "operator", "values"].contains(key) {
                    throw SelectorParseError("unknown field \"\(key)\" in matchExpressions (key, operator, values)")
                }
                guard let key = fields["key"]?.stringValue, let op = fields["operator"]?.stringValue else {
                    throw SelectorParseError("matchExpressions need key and operator")
                }
                var values: [String] = []
                if let list = fields["values"], !list.isNull {
                    guard let items = list.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                        throw SelectorParseError("matchExpressions values must be a list of strings")
                    }
                    values = items.compactMap(\.stringValue)
                }
                switch op {
                case "In", "NotIn":
                    if values.isEmpty { throw SelectorParseError("\(op) needs at least one value") }
                    requirements.append(Requirement(key: key, op: op == "In" ? .in : .notIn, values: values))
                case "Exists", "DoesNotExist":
                    if !values.isEmpty { throw SelectorParseError("\(op) takes no values") }
                    requirements.append(Requirement(key: key, op: op == "Exists" ? .exists : .doesNotExist))
                default: throw SelectorParseError("\"\(op)\" is not a valid label selector operator")
                }
            }
        }
        self.init(requirements: requirements)
    }
}

/// Tokenizes selector text. Identifiers are runs of anything but blanks and `,()=!<>`.
struct SelectorLexer {
    let chars: [Character]
    var index = 0

    init(_ text: String) {
        chars = Array(text)
        skipBlanks()
    }

    var atEnd: Bool { index >= chars.count }

    mutating func skipBlanks() {
        while index < chars.count, chars[index].isWhitespace { index += 1 }
    }

    mutating func consume(_ token: String) -> Bool {
        let t = Array(token)
        guard index + t.count <= chars.count, Array(chars[index..<index + t.count]) == t else { return false }
        index += t.count
        skipBlanks()
        return true
    }

    static let special: Set<Character> = [",", "(", ")", "=", "!", "<", ">"]

    mutating func identifier() -> String {
        let start = index
        while index < chars.count, !chars[index].isWhitespace, !Self.special.contains(chars[index]) { index += 1 }
        let word = String(chars[start..<index])
        skipBlanks()
        return word
    }

    /// A word followed by a blank or `(` (so `in` is the operator only when used as one).
    mutating func keyword(_ word: String) -> Bool {
        let w = Array(word)
        guard index + w.count <= chars.count, Array(chars[index..<index + w.count]) == w else { return false }
        let after = index + w.count
        guard after == chars.count || chars[after].isWhitespace || chars[after] == "(" else { return false }
        index = after
        skipBlanks()
        return true
    }

    mutating func requirement() throws(SelectorParseError) -> LabelSelector.Requirement {
        if consume("!") {
            let key = identifier()
            try validateKey(key)
            return .init(key: key, op: .doesNotExist)
        }
        let key = identifier()
        try validateKey(key)
        if atEnd || chars[index] == "," { return .init(key: key, op: .exists) }
        if consume("==") || consume("=") { return .init(key: key, op: .equals, values: [try value()]) }
        if consume("!=") { return .init(key: key, op: .notEquals, values: [try value()]) }
        if consume(">") { return .init(key: key, op: .greaterThan, values: [try integer()]) }
        if consume("<") { return .init(key: key, op: .lessThan, values: [try integer()]) }
        if keyword("notin") { return .init(key: key, op: .notIn, values: try valueSet()) }
        if keyword("in") { return .init(key: key, op: .in, values: try valueSet()) }
        throw SelectorParseError("unable to parse requirement: found '\(atEnd ? "" : String(chars[index]))', expected: in, notin, =, ==, !=, gt, lt")
    }

    mutating func value() throws(SelectorParseError) -> String {
        let v = identifier()
        try validateValue(v)
        return v
    }

    mutating func integer() throws(SelectorParseError) -> String {
        let v = identifier()
        guard Int64(v) != nil else { throw SelectorParseError("unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer") }
        return v
    }

    mutating func valueSet() throws(SelectorParseError) -> [String] {
        guard consume("(") else { throw SelectorParseError("unable to parse requirement: expected '(' after set operator") }
        var values: [String] = []
        if consume(")") { return [""] }
        while true {
            values.append(try value())
            if consume(")") { return values }
            guard consume(",") else { throw SelectorParseError("unable to parse requirement: expected ',' or ')' in value set") }
        }
    }

    func validateKey(_ key: String) throws(SelectorParseError) {
        guard NameValidation.isQualifiedName(key) else {
            throw SelectorParseError("unable to parse requirement: invalid label key \"\(key)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
        }
    }

    func validateValue(_ value: String) throws(SelectorParseError) {
        guard NameValidation.isLabelValue(value) else {
            throw SelectorParseError("unable to parse requirement: invalid label value: \"\(value)\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")
        }
    }
}
