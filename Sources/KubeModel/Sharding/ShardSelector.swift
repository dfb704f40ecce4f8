
/// A KEP-5866 shard selector: `shardRange(object.metadata.uid, '0x0', '0x8000000000000000')`,
/// ranges joined with `||`, all over one field. An object matches when the FNV-1a 64 hash of
/// the field falls in any range `[start, end)`.
public struct ShardSelector: Hashable, Sendable, CustomStringConvertible {
    public enum Field: String, Sendable {
        case uid = "object.metadata.uid"
        case namespace = "object.metadata.namespace"
    }

    public var field: Field
    /// Non-empty ranges; an empty list matches nothing.
    public var ranges: [HashRange]

    public init(field: Field, ranges: [HashRange]) {
        self.field = field
        self.ranges = ranges
    }

    public func matches(hash: UInt64) -> Bool {
        ranges.contains { $0.contains(hash) }
    }

    public func matches(fieldValue: String) -> Bool {
        matches(hash: FNV1a64.hash(fieldValue))
    }

    /// The canonical wire form. A selector of no ranges writes one empty range, which reads
    /// back as none over the same field.
    public var description: String {
        guard !ranges.isEmpty else { return "shardRange(\(field.rawValue), '\(HashRange.hex(0))', '\(HashRange.hex(0))')" }
        return ranges.map { "shardRange(\(field.rawValue), '\(HashRange.hex($0.start))', '\(HashRange.hex($0.endExclusive))')" }
            .joined(separator: " || ")
    }
}

public struct ShardSelectorParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension ShardSelector {
    public init(parsing text: String) throws(ShardSelectorParseError) {
        var field: Field?
        var ranges: [HashRange] = []
        let terms = ShardSelector.split(text, on: "||")
        for raw in terms {
            let term = raw.filter { !$0.isWhitespace }
            guard term.hasPrefix("shardRange("), term.hasSuffix(")") else {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": expected shardRange(field, 'start', 'end')")
            }
            let args = term.dropFirst("shardRange(".count).dropLast().split(separator: ",", omittingEmptySubsequences: false)
            guard args.count == 3 else {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": shardRange takes 3 arguments")
            }
            guard let f = Field(rawValue: String(args[0])) else {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": unsupported field path \"\(args[0])\", supported: object.metadata.uid, object.metadata.namespace")
            }
            if let field, field != f {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": all ranges must use the same field path")
            }
            field = f
            let start = try ShardSelector.hexBound(args[1], in: text)
            let end = try ShardSelector.hexBound(args[2], in: text)
            guard let start else {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": start must be below 2^64")
            }
            if let end, end < start {
                throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": start must not exceed end")
            }
            if let range = HashRange(start: start, endExclusive: end) { ranges.append(range) }
        }
        guard let field else { throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\"") }
        self.init(field: field, ranges: ranges)
    }

    /// A quoted `0x` hex bound; nil for exactly 2^64.
    public static func hexBound(_ arg: Substring, in text: String) throws(ShardSelectorParseError) -> UInt64? {
        var s = arg
        guard s.count >= 2, (s.first == "'" && s.last == "'") || (s.first == "\"" && s.last == "\"") else {
            throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": bounds must be quoted hex strings")
        }
        s = s.dropFirst().dropLast()
        guard s.hasPrefix("0x") || s.hasPrefix("0X") else {
            throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": bounds must start with 0x")
        }
        var digits = s.dropFirst(2)
        while digits.count > 1, digits.first == "0" { digits = digits.dropFirst() }
        if digits.lowercased() == "10000000000000000" { return nil }
        guard !digits.isEmpty, let value = UInt64(digits, radix: 16) else {
            throw ShardSelectorParseError(message: "invalid shard selector \"\(text)\": bound \(s) is not a hex number up to 0x10000000000000000")
        }
        return value
    }

    static func split(_ text: String, on separator: String) -> [Substring] {
        var parts: [Substring] = []
        var rest = Substring(text)
        while let r = rest.firstRange(of: separator) {
            parts.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
