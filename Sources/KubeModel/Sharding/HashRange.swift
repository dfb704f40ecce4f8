/// A non-empty range of the 64-bit hash space, `[start, last]` inclusive, so the top of the
/// space (2^64 exclusive) needs no wider integer.
public struct HashRange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var start: UInt64
    public var last: UInt64

    public init(start: UInt64, last: UInt64) {
        precondition(start <= last, "empty hash range")
        self.start = start
        self.last = last
    }

    /// The half-open form `[start, end)` used on the wire; `end == nil` means 2^64.
    /// Returns nil for an empty range.
    public init?(start: UInt64, endExclusive end: UInt64?) {
        if let end {
            guard end > start else { return nil }
            self.init(start: start, last: end - 1)
        } else {
            self.init(start: start, last: .max)
        }
    }

    public static let all = HashRange(start: 0, last: .max)

    public func contains(_ hash: UInt64) -> Bool { hash >= start && hash <= last }

    /// The exclusive end, nil for 2^64.
    public var endExclusive: UInt64? { last == .max ? nil : last + 1 }

    public static func < (a: HashRange, b: HashRange) -> Bool {
        (a.start, a.last) < (b.start, b.last)
    }

    /// `0x` + 16 lowercase hex digits; the top bound is `0x10000000000000000`.
    public static func hex(_ value: UInt64?) -> String {
        guard let value else { return "0x10000000000000000" }
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    public var description: String { "[\(HashRange.hex(start)), \(HashRange.hex(endExclusive)))" }

    /// Whether ranges together cover the whole space.
    public static func coverAll(_ ranges: [HashRange]) -> Bool {
        var next: UInt64 = 0
        for range in ranges.sorted() where range.start <= next {
            if range.last == .max { return true }
            next = max(next, range.last + 1)
        }
        return false
    }
}
