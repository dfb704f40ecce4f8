/// JSON patch (RFC 6902) with JSON pointers (RFC 6901), bounded as the API server bounds it:
/// at most 10,000 operations (413), and `copy` may add at most 3 MiB in all (422) — without
/// that, a kilobyte of `copy` operations that double a value grows the document beyond any
/// memory. Every value placed must also keep the document within the parser's nesting limit,
/// and the work spent measuring moved and copied values is budgeted.
public enum JSONPatch {
    public struct Limits: Sendable {
        public var maxOperations = 10_000
        public var maxCopiedBytes = 3 * 1024 * 1024
        /// Nodes visited while measuring values placed by `add`, `replace`, `copy` and `move`.
        public var workBudget = 8_000_000

        public init() {}
    }

    public static func apply(_ patch: JSON, to document: JSON, limits: Limits = Limits()) throws(PatchError) -> JSON {
        guard case .array(let operations) = patch else {
            throw PatchError(.malformed, "json patch must be an array of operations")
        }
        guard operations.count <= limits.maxOperations else {
            throw PatchError(.tooLarge, "The allowed maximum operations in a JSON patch is \(limits.maxOperations), got \(operations.count)")
        }
        var doc = document
        var copied = 0
        var budget = limits.workBudget
        for operation in operations {
            guard let op = operation["op"]?.stringValue else { throw PatchError(.malformed, "json patch operation is missing \"op\"") }
            guard let pathText = operation["path"]?.stringValue else { throw PatchError(.malformed, "json patch operation \"\(op)\" is missing \"path\"") }
            let path = try pointer(pathText)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw PatchError(.malformed, "add operation does not apply: missing value") }
                _ = try measure(value, at: path, pathText: pathText, budget: &budget)
                try add(value, at: path[...], in: &doc, pathText: pathText)
            case "remove":
                _ = try remove(at: path[...], in: &doc, pathText: pathText)
            case "replace":
                guard let value = operation["value"] else { throw PatchError(.malformed, "replace operation does not apply: missing value") }
                _ = try measure(value, at: path, pathText: pathText, budget: &budget)
                _ = try remove(at: path[...], in: &doc, pathText: pathText, op: op)
                try add(value, at: path[...], in: &doc, pathText: pathText)
            case "move", "copy":
                guard let fromText = operation["from"]?.stringValue else { throw PatchError(.malformed, "\(op) operation is missing \"from\"") }
                let from = try pointer(fromText)
                let value: JSON
                if op == "move" {
                    if path.count > from.count, Array(path.prefix(from.count)) == from {
                        throw PatchError(.failed, "move operation does not apply: \(fromText) is a prefix of \(pathText)")
                    }
                    guard let v = get(from[...], in: doc) else { throw PatchError(.failed, "move operation does not apply: doc is missing from path: \(fromText)") }
                    _ = try measure(v, at: path, pathText: pathText, budget: &budget)
                    value = try remove(at: from[...], in: &doc, pathText: fromText, op: op)
                } else {
                    guard let v = get(from[...], in: doc) else { throw PatchError(.failed, "copy operation does not apply: doc is missing from path: \(fromText)") }
                    copied += try measure(v, at: path, pathText: pathText, budget: &budget)
                    if copied > limits.maxCopiedBytes {
                        throw PatchError(.failed, "Unable to complete the copy: the copies add \(copied) bytes, above the limit of \(limits.maxCopiedBytes)")
                    }
                    value = v
                }
                try add(value, at: path[...], in: &doc, pathText: pathText)
            case "test":
                let expected = operation["value"] ?? .null
                let actual = get(path[...], in: doc)
                guard actual == expected else {
                    throw PatchError(.failed, "testing value \(pathText) failed: test failed")
                }
            default:
                throw PatchError(.malformed, "unexpected kind of operation: \(op)")
            }
        }
        return doc
    }

    /// The serialized size of a value about to be placed at `path`; refuses a value that would
    /// nest the document past `JSON.maxDepth`, or when the measuring budget is spent.
    static func measure(_ value: JSON, at path: [String], pathText: String, budget: inout Int) throws(PatchError) -> Int {
        let room = JSON.maxDepth - path.count
        guard room >= 0, let measured = value.measure(depthLimit: room, budget: &budget) else {
            if budget < 0 { throw PatchError(.failed, "the patch moves or copies more than the server measures for one request") }
            throw PatchError(.failed, "the value at \(pathText) would nest the object deeper than \(JSON.maxDepth) levels")
        }
        return measured.size
    }

    /// The reference tokens of a pointer: `~1` is `/`, `~0` is `~`, any other `~` is an error.
    static func pointer(_ text: String) throws(PatchError) -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("/") else { throw PatchError(.malformed, "JSON pointer must be empty or start with '/': \(text)") }
        var tokens: [String] = []
        for raw in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard tokens.count <= JSON.maxDepth else { throw PatchError(.failed, "JSON pointer \(text.prefix(64))… is deeper than \(JSON.maxDepth) levels") }
            var token: [UInt8] = []
            var escaped = false
            for byte in raw {
                if escaped {
                    switch byte {
                    case UInt8(ascii: "0"): token.append(UInt8(ascii: "~"))
                    case UInt8(ascii: "1"): token.append(UInt8(ascii: "/"))
                    default: throw PatchError(.malformed, "JSON pointer \(text) has an invalid escape '~\(Character(Unicode.Scalar(byte)))'")
                    }
                    escaped = false
                } else if byte == UInt8(ascii: "~") {
                    escaped = true
                } else {
                    token.append(byte)
                }
            }
            if escaped { throw PatchError(.malformed, "JSON pointer \(text) ends in '~'") }
            tokens.append(String(decoding: token, as: UTF8.self))
        }
        return tokens
    }

    /// An array index token: `0` or digits without a leading zero.
    static func index(_ token: String) -> Int? {
        guard let first = token.utf8.first, token.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              first != UInt8(ascii: "0") || token.utf8.count == 1 else { return nil }
        return Int(token)
    }

    static func get(_ path: ArraySlice<String>, in doc: JSON) -> JSON? {
        guard let first = path.first else { return doc }
        switch doc {
        case .object(let o):
            guard let child = o[first] else { return nil }
            return get(path.dropFirst(), in: child)
        case .array(let a):
            guard let i = index(first), i < a.count else { return nil }
            return get(path.dropFirst(), in: a[i])
        default:
            return nil
        }
    }

    static func add(_ value: JSON, at path: ArraySlice<String>, in doc: inout JSON, pathText: String) throws(PatchError) {
        guard let first = path.first else {
            doc = value
            return
        }
        let last = path.count == 1
        switch doc {
        case .object(var o):
            doc = .null
            defer { doc = .object(o) }
            if last {
                o[first] = value
            } else {
                guard var child = o[first] else { throw PatchError(.failed, "add operation does not apply: doc is missing path: \"\(pathText)\"") }
                o[first] = .null
                defer { o[first] = child }
                try add(value, at: path.dropFirst(), in: &child, pathText: pathText)
            }
        case .array(var a):
            doc = .null
            defer { doc = .array(a) }
            if last {
                if first == "-" { a.append(value); return }
                guard let i = index(first), i <= a.count else { throw PatchError(.failed, "add operation does not apply: index out of range in \"\(pathText)\"") }
                a.insert(value, at: i)
            } else {
                guard let i = index(first), i < a.count else { throw PatchError(.failed, "add operation does not apply: doc is missing path: \"\(pathText)\"") }
                try add(value, at: path.dropFirst(), in: &a[i], pathText: pathText)
            }
        default:
            throw PatchError(.failed, "add operation does not apply: doc is missing path: \"\(pathText)\"")
        }
    }

    /// Removes what `path` names; `op` is the operation the error names (a replace and a move
    /// remove first).
    static func remove(at path: ArraySlice<String>, in doc: inout JSON, pathText: String, op: String = "remove") throws(PatchError) -> JSON {
        guard let first = path.first else { throw PatchError(.failed, "\(op) operation does not apply: cannot remove the whole document") }
        let last = path.count == 1
        switch doc {
        case .object(var o):
            guard var child = o[first] else { throw PatchError(.failed, "\(op) operation does not apply: doc is missing path: \"\(pathText)\"") }
            doc = .null
            defer { doc = .object(o) }
            if last {
                o[first] = nil
                return child
            }
            o[first] = .null
            defer { o[first] = child }
            return try remove(at: path.dropFirst(), in: &child, pathText: pathText, op: op)
        case .array(var a):
            guard let i = index(first), i < a.count else { throw PatchError(.failed, "\(op) operation does not apply: doc is missing path: \"\(pathText)\"") }
            doc = .null
            defer { doc = .array(a) }
            if last { return a.remove(at: i) }
            return try remove(at: path.dropFirst(), in: &a[i], pathText: pathText, op: op)
        default:
            throw PatchError(.failed, "\(op) operation does not apply: doc is missing path: \"\(pathText)\"")
        }
    }
}
