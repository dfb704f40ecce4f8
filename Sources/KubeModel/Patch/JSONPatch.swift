/// JSON patch (RFC 6902) with JSON pointers (RFC 6901).
public enum JSONPatch {
    public static func apply(_ patch: JSON, to document: JSON) throws(PatchError) -> JSON {
        guard case .array(let operations) = patch else {
            throw PatchError(.malformed, "json patch must be an array of operations")
        }
        var doc = document
        for operation in operations {
            guard let op = operation["op"]?.stringValue else { throw PatchError(.malformed, "json patch operation is missing \"op\"") }
            guard let pathText = operation["path"]?.stringValue else { throw PatchError(.malformed, "json patch operation \"\(op)\" is missing \"path\"") }
            let path = try pointer(pathText)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw PatchError(.malformed, "add operation does not apply: missing value") }
                try add(value, at: path[...], in: &doc, pathText: pathText)
            case "remove":
                _ = try remove(at: path[...], in: &doc, pathText: pathText)
            case "replace":
                guard let value = operation["value"] else { throw PatchError(.malformed, "replace operation does not apply: missing value") }
                _ = try remove(at: path[...], in: &doc, pathText: pathText)
                try add(value, at: path[...], in: &doc, pathText: pathText)
            case "move", "copy":
                guard let fromText = operation["from"]?.stringValue else { throw PatchError(.malformed, "\(op) operation is missing \"from\"") }
                let from = try pointer(fromText)
                let value: JSON
                if op == "move" {
                    value = try remove(at: from[...], in: &doc, pathText: fromText)
                } else {
                    guard let v = get(from[...], in: doc) else { throw PatchError(.failed, "copy operation does not apply: doc is missing from path: \(fromText)") }
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

    static func pointer(_ text: String) throws(PatchError) -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("/") else { throw PatchError(.malformed, "JSON pointer must be empty or start with '/': \(text)") }
        return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingTokens("~1", with: "/").replacingTokens("~0", with: "~")
        }
    }

    static func get(_ path: ArraySlice<String>, in doc: JSON) -> JSON? {
        guard let first = path.first else { return doc }
        switch doc {
        case .object(let o):
            guard let child = o[first] else { return nil }
            return get(path.dropFirst(), in: child)
        case .array(let a):
            guard let i = Int(first), i >= 0, i < a.count else { return nil }
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
                guard let i = Int(first), i >= 0, i <= a.count else { throw PatchError(.failed, "add operation does not apply: index out of range in \"\(pathText)\"") }
                a.insert(value, at: i)
            } else {
                guard let i = Int(first), i >= 0, i < a.count else { throw PatchError(.failed, "add operation does not apply: doc is missing path: \"\(pathText)\"") }
                try add(value, at: path.dropFirst(), in: &a[i], pathText: pathText)
            }
        default:
            throw PatchError(.failed, "add operation does not apply: doc is missing path: \"\(pathText)\"")
        }
    }

    static func remove(at path: ArraySlice<String>, in doc: inout JSON, pathText: String) throws(PatchError) -> JSON {
        guard let first = path.first else { throw PatchError(.failed, "cannot remove the whole document") }
        let last = path.count == 1
        switch doc {
        case .object(var o):
            guard var child = o[first] else { throw PatchError(.failed, "remove operation does not apply: doc is missing path: \"\(pathText)\"") }
            doc = .null
            defer { doc = .object(o) }
            if last {
                o[first] = nil
                return child
            }
            o[first] = .null
            defer { o[first] = child }
            return try remove(at: path.dropFirst(), in: &child, pathText: pathText)
        case .array(var a):
            guard let i = Int(first), i >= 0, i < a.count else { throw PatchError(.failed, "remove operation does not apply: doc is missing path: \"\(pathText)\"") }
            doc = .null
            defer { doc = .array(a) }
            if last { return a.remove(at: i) }
            return try remove(at: path.dropFirst(), in: &a[i], pathText: pathText)
        default:
            throw PatchError(.failed, "remove operation does not apply: doc is missing path: \"\(pathText)\"")
        }
    }
}

extension StringProtocol {
    /// Replaces every occurrence of a token (no Foundation needed).
    func replacingTokens(_ token: String, with replacement: String) -> String {
        guard !token.isEmpty else { return String(self) }
        var out = ""
        var rest = Substring(self)
        let t = Array(token)
        while !rest.isEmpty {
            if rest.starts(with: t) {
                out += replacement
                rest = rest.dropFirst(t.count)
            } else {
                out.append(rest.first!)
                rest = rest.dropFirst()
            }
        }
        return out
    }
}
