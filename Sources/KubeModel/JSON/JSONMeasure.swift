extension JSON {
    /// The deepest nesting any document may have: the parser's limit, so whatever is stored or
    /// built from patches can be read back.
    public static var maxDepth: Int { JSONParser.maxDepth }

    /// Serialized size in bytes and nesting depth (a scalar is 0, `{}` is 1), measured without
    /// serializing; nil as soon as the depth passes `depthLimit` or the visits pass `budget`
    /// (each node visited spends one). Never recurses deeper than `depthLimit + 1`.
    public func measure(depthLimit: Int = JSON.maxDepth, budget: inout Int) -> (size: Int, depth: Int)? {
        budget -= 1
        guard budget >= 0 else { return nil }
        switch self {
        case .null: return (4, 0)
        case .bool(let b): return (b ? 4 : 5, 0)
        case .number(let n): return (n.utf8.count, 0)
        case .string(let s): return (JSON.quotedSize(s), 0)
        case .array(let items):
            guard depthLimit > 0 else { return nil }
            var size = 2 + max(items.count - 1, 0)
            var depth = 1
            for item in items {
                guard let inner = item.measure(depthLimit: depthLimit - 1, budget: &budget) else { return nil }
                size += inner.size
                depth = max(depth, inner.depth + 1)
            }
            return (size, depth)
        case .object(let object):
            guard depthLimit > 0 else { return nil }
            var size = 2 + max(object.count - 1, 0)
            var depth = 1
            for (key, value) in object {
                guard let inner = value.measure(depthLimit: depthLimit - 1, budget: &budget) else { return nil }
                size += JSON.quotedSize(key) + 1 + inner.size
                depth = max(depth, inner.depth + 1)
            }
            return (size, depth)
        }
    }

    /// The size of a string as `writeString` writes it.
    static func quotedSize(_ s: String) -> Int {
        var size = 2
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: size += 2
            case 0..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }
}
