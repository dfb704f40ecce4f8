/// A request's query: every `key=value` pair in order, percent-decoded. A lookup reads the
/// first value of a key, as Go's `url.Values.Get` and the API server's option decoding do.
public struct QueryParameters: Sendable, Equatable {
    public private(set) var pairs: [(key: String, value: String)] = []

    public init() {}

    public init(_ pairs: [(String, String)]) {
        self.pairs = pairs.map { (key: $0.0, value: $0.1) }
    }

    /// Parses the text after `?`. Empty pieces (`a=1&&b=2`) are skipped, as Go skips them; a
    /// malformed escape or non-UTF-8 value is an error, where Go would drop the pair silently
    /// and a proxy in front of it would read it.
    public init(parsing raw: ArraySlice<UInt8>) throws(RequestTargetError) {
        for piece in raw.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let separator = piece.firstIndex(of: UInt8(ascii: "="))
            let key = try PercentEncoding.decode(piece[..<(separator ?? piece.endIndex)], plusIsSpace: true)
            var value = ""
            if let separator { value = try PercentEncoding.decode(piece[(separator + 1)...], plusIsSpace: true) }
            pairs.append((key: key, value: value))
        }
    }

    public init(parsing text: String) throws(RequestTargetError) {
        try self.init(parsing: Array(text.utf8)[...])
    }

    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// Kubernetes booleans: anything but "0" and "false" (any case) is true; absent is false.
    public func bool(_ key: String) -> Bool {
        guard let v = self[key] else { return false }
        let lower = v.lowercased()
        return lower != "0" && lower != "false"
    }

    /// An integer option; nil when absent, an error when present and not a decimal int64 (the
    /// API server answers 400, as Go's decoding of `ListOptions` does).
    public func int(_ key: String) throws(RequestTargetError) -> Int64? {
        guard let text = self[key] else { return nil }
        guard let value = Int64(text) else { throw RequestTargetError("\(key): invalid integer \"\(text)\"") }
        return value
    }

    /// `dryRun=All`; any other value is rejected by the caller.
    public var dryRun: Bool { self["dryRun"] == "All" }

    /// The pairs re-encoded, in order.
    public var encoded: String {
        pairs.map { PercentEncoding.encode($0.key) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
    }

    /// This query with `key` set to one value (every earlier occurrence replaced), or removed.
    public func setting(_ key: String, _ value: String?) -> QueryParameters {
        var copy = self
        let first = copy.pairs.firstIndex { $0.key == key }
        copy.pairs.removeAll { $0.key == key }
        if let value { copy.pairs.insert((key: key, value: value), at: min(first ?? copy.pairs.count, copy.pairs.count)) }
        return copy
    }

    /// Only the pairs whose keys are listed (first value each), in that order.
    public func keeping(_ keys: [String]) -> QueryParameters {
        QueryParameters(keys.compactMap { key in self[key].map { (key, $0) } })
    }

    public static func == (a: QueryParameters, b: QueryParameters) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
