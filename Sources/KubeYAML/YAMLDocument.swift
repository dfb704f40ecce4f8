import CYaml
import KubeModel

/// YAML as `JSON` values: kubeconfigs, spec files, manifests (JSON is YAML). Everything that
/// reads YAML reads it here, bounded: a document may nest at most `JSON.maxDepth` levels and
/// yield at most `nodeBudget(forInputBytes:)` values counting every alias expansion, so a
/// few hundred bytes of nested aliases ("billion laughs") are an error, not gigabytes. The
/// reader composes libyaml's events itself, iteratively; no step recurses on the input.
///
/// Scalars resolve as kubectl's YAML does (go-yaml v2 through sigs.k8s.io/yaml): quoted or
/// `!!str` scalars are strings; plain `~`, `null` and the empty scalar are null; `true`,
/// `yes`, `on`, `y` and their capitalised forms are booleans (likewise false); integers may be
/// signed, use `_`, and `0x`, `0o`, `0b` or a leading `0` for octal; other numbers must be
/// finite. Mapping keys are scalars, kept as written; a repeated key is an error.
public enum YAMLDocument {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Values a document of `bytes` may yield: plenty for any document without aliases (a
    /// value takes at least a byte to write), and a hard stop for alias bombs.
    public static func nodeBudget(forInputBytes bytes: Int) -> Int { 100_000 + 16 * bytes }

    /// The first document of `text`; an empty document (or none) is `null`.
    public static func parse(_ text: String) throws(ParseError) -> JSON {
        try read(text, first: true).first ?? .null
    }

    /// Every non-empty document of a multi-document stream (`---` separated).
    public static func parseAll(_ text: String) throws(ParseError) -> [JSON] {
        try read(text, first: false).filter { !$0.isNull }
    }

    static func read(_ text: String, first: Bool) throws(ParseError) -> [JSON] {
        let bytes = Array(text.utf8)
        let result: Result<[JSON], ParseError> = bytes.withUnsafeBufferPointer { buffer in
            var composer = Composer(budget: nodeBudget(forInputBytes: bytes.count))
            return Result { () throws(ParseError) in try composer.run(buffer, firstOnly: first) }
        }
        return try result.get()
    }
}

/// Builds JSON from libyaml's event stream with an explicit stack.
struct Composer {
    typealias ParseError = YAMLDocument.ParseError

    struct Anchor {
        var value: JSON
        /// Values it stands for, counted again at every alias.
        var nodes: Int
        /// The scalar's text, when the anchor is a scalar (it may then be a mapping key).
        var scalarText: String?
    }

    enum Frame {
        case sequence([JSON], anchor: String?, nodes: Int)
        case mapping(JSONObject, key: String?, anchor: String?, nodes: Int)
    }

    var budget: Int
    var stack: [Frame] = []
    var anchors: [String: Anchor] = [:]
    var documents: [JSON] = []
    var root: JSON?

    init(budget: Int) {
        self.budget = budget
    }

    mutating func run(_ input: UnsafeBufferPointer<UInt8>, firstOnly: Bool) throws(ParseError) -> [JSON] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ParseError(description: "invalid YAML: the parser could not start") }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, input.baseAddress ?? UnsafePointer(bitPattern: 1), input.count)
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { throw Composer.problem(parser) }
            defer { yaml_event_delete(&event) }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return documents
            case YAML_DOCUMENT_START_EVENT:
                root = nil
                anchors = [:]
            case YAML_DOCUMENT_END_EVENT:
                documents.append(root ?? .null)
                if firstOnly { return documents }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text = Composer.string(scalar.value, length: scalar.length)
                let value = Composer.resolve(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE,
                                             tag: Composer.string(scalar.tag))
                let anchor = Composer.string(scalar.anchor)
                if let anchor { anchors[anchor] = Anchor(value: value, nodes: 1, scalarText: text) }
                try deliver(value, nodes: 1, keyText: text, at: event.start_mark)
            case YAML_ALIAS_EVENT:
                let name = Composer.string(event.data.alias.anchor) ?? ""
                guard let anchor = anchors[name] else { throw Composer.error("found undefined alias *\(name)", event.start_mark) }
                try deliver(anchor.value, nodes: anchor.nodes, keyText: anchor.scalarText, at: event.start_mark)
            case YAML_SEQUENCE_START_EVENT:
                try open(.sequence([], anchor: Composer.string(event.data.sequence_start.anchor), nodes: 1), at: event.start_mark)
            case YAML_MAPPING_START_EVENT:
                try open(.mapping(JSONObject(), key: nil, anchor: Composer.string(event.data.mapping_start.anchor), nodes: 1), at: event.start_mark)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { throw Composer.error("unbalanced collection", event.start_mark) }
                let (value, anchor, nodes): (JSON, String?, Int)
                switch frame {
                case .sequence(let items, let a, let n): (value, anchor, nodes) = (.array(items), a, n)
                case .mapping(let object, _, let a, let n): (value, anchor, nodes) = (.object(object), a, n)
                }
                if let anchor { anchors[anchor] = Anchor(value: value, nodes: nodes, scalarText: nil) }
                try deliver(value, nodes: nodes, keyText: nil, at: event.start_mark, counted: true)
            default:
                break
            }
        }
    }

    mutating func open(_ frame: Frame, at mark: yaml_mark_t) throws(ParseError) {
        guard stack.count < JSON.maxDepth else { throw Composer.error("the document nests deeper than \(JSON.maxDepth) levels", mark) }
        try spend(1, at: mark)
        stack.append(frame)
    }

    mutating func spend(_ nodes: Int, at mark: yaml_mark_t) throws(ParseError) {
        budget -= nodes
        if budget < 0 { throw Composer.error("the document expands to too many values (aliases expanding without bound?)", mark) }
    }

    /// Places a finished value into the collection being built, or makes it the root.
    /// Collections have spent their own node when they opened (`counted`).
    mutating func deliver(_ value: JSON, nodes: Int, keyText: String?, at mark: yaml_mark_t, counted: Bool = false) throws(ParseError) {
        if !counted { try spend(nodes, at: mark) }
        guard let top = stack.popLast() else {
            root = value
            return
        }
        switch top {
        case .sequence(var items, let anchor, let n):
            items.append(value)
            stack.append(.sequence(items, anchor: anchor, nodes: n + nodes))
        case .mapping(let object, nil, let anchor, let n):
            guard let key = keyText else { throw Composer.error("mapping keys must be scalars", mark) }
            if object[key] != nil { throw Composer.error("mapping key \"\(key.prefix(64))\" is defined twice", mark) }
            stack.append(.mapping(object, key: key, anchor: anchor, nodes: n + nodes))
        case .mapping(var object, let key?, let anchor, let n):
            object[key] = value
            stack.append(.mapping(object, key: nil, anchor: anchor, nodes: n + nodes))
        }
    }

    // MARK: Scalars

    static let trueWords: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falseWords: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
    static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]

    static func resolve(_ text: String, plain: Bool, tag: String?) -> JSON {
        if !plain || tag == "tag:yaml.org,2002:str" { return .string(text) }
        if nullWords.contains(text) { return .null }
        if trueWords.contains(text) { return .bool(true) }
        if falseWords.contains(text) { return .bool(false) }
        if let integer = integer(text) { return .number(String(integer)) }
        if isDecimalFloat(text), let double = Double(text), double.isFinite { return .number(String(double)) }
        return .string(text)
    }

    /// A signed integer in decimal, `0x` hex, `0o`/leading-`0` octal or `0b` binary, `_` allowed.
    static func integer(_ text: String) -> Int64? {
        // Most scalars are words: only a sign or a digit can start a number.
        guard let lead = text.utf8.first, lead == UInt8(ascii: "-") || lead == UInt8(ascii: "+")
                || (lead >= UInt8(ascii: "0") && lead <= UInt8(ascii: "9")) else { return nil }
        var digits = Substring(text.utf8.contains(UInt8(ascii: "_")) ? String(text.filter { $0 != "_" }) : text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard let first = digits.first, first.isASCII, first.isNumber else { return nil }
        var radix = 10
        for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] where digits.hasPrefix(prefix) {
            radix = base
            digits = digits.dropFirst(2)
        }
        if radix == 10, digits.count > 1, digits.first == "0" { radix = 8 }
        guard !digits.isEmpty, let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, as go-yaml v2 resolves floats.
    static func isDecimalFloat(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        let whole = digits()
        var fraction = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fraction = digits()
            if whole == 0, fraction == 0 { return false }
        } else if whole == 0 {
            return false
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            if digits() == 0 { return false }
        }
        return bytes.isEmpty
    }

    // MARK: libyaml plumbing

    /// A NUL-terminated libyaml string (anchors, tags).
    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        var count = 0
        while pointer[count] != 0 { count += 1 }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    static func problem(_ parser: yaml_parser_t) -> ParseError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed"
        return error(problem, parser.problem_mark)
    }

    static func error(_ message: String, _ mark: yaml_mark_t) -> ParseError {
        ParseError(description: "invalid YAML: \(message) at line \(mark.line + 1), column \(mark.column + 1)")
    }
}
