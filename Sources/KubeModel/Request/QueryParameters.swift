/// Decoded query parameters (first value wins, as Go's `url.Values.Get`).
public struct QueryParameters: Sendable {
    var values: [String: String] = [:]

    public init(_ raw: Substring) {
        for pair in raw.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecode(kv[0], plusIsSpace: true)
            let value = kv.count > 1 ? percentDecode(kv[1], plusIsSpace: true) : ""
            if values[key] == nil { values[key] = value }
        }
    }

    public subscript(key: String) -> String? { values[key] }

    /// Kubernetes booleans: anything but "0" and "false" (any case) is true; absent is false.
    public func bool(_ key: String) -> Bool {
        guard let v = values[key] else { return false }
        let lower = v.lowercased()
        return lower != "0" && lower != "false"
    }

    public func int(_ key: String) -> Int? {
        values[key].flatMap { Int($0) }
    }

    /// `dryRun=All`; any other value is rejected by the caller.
    public var dryRun: Bool { values["dryRun"] == "All" }
}
