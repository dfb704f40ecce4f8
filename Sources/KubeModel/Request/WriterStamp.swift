
/// Who a write is made by, as far as the mesh is concerned: the shard and the epoch of the
/// spec the proxy admitted the write under, and the ShardingConfig that issued it (its key,
/// `group/namespace/name`; none for a spec written by hand, whose writes are only audited). It travels as impersonation extras (`Impersonate-Extra-ctrlmesh.kruise.io%2Fshard`…)
/// because a real kube-apiserver passes those on to admission as `userInfo.extra`, and only
/// a requester granted `impersonate` on those extras can set them.
public struct WriterStamp: Sendable, Equatable, CustomStringConvertible {
    public var mesh: String?
    public var shard: String
    public var epoch: UInt64

    public init(mesh: String?, shard: String, epoch: UInt64) {
        self.mesh = mesh
        self.shard = shard
        self.epoch = epoch
    }

    public static let meshKey = "ctrlmesh.kruise.io/mesh"
    public static let shardKey = "ctrlmesh.kruise.io/shard"
    public static let epochKey = "ctrlmesh.kruise.io/epoch"
    static let keys = [meshKey, shardKey, epochKey]
    static let extraPrefix = "impersonate-extra-"

    public var description: String { "shard \(shard)\(mesh.map { " of " + $0 } ?? "") at epoch \(epoch)" }

    /// The headers that carry the stamp: one `Impersonate-Extra-` header per key, its name
    /// percent-encoded as Kubernetes requires (`/` is `%2F`).
    public var headers: [(name: String, value: String)] {
        var headers = [(WriterStamp.headerName(WriterStamp.shardKey), shard), (WriterStamp.headerName(WriterStamp.epochKey), String(epoch))]
        if let mesh { headers.append((WriterStamp.headerName(WriterStamp.meshKey), mesh)) }
        return headers
    }

    static func headerName(_ key: String) -> String {
        "Impersonate-Extra-" + key.split(separator: "/", omittingEmptySubsequences: false).joined(separator: "%2F")
    }

    /// Reads a stamp from `userInfo.extra` (admission) or from the extras of a request's
    /// headers. No stamp: nil. A stamp with a key missing, repeated or malformed is `.invalid`
    /// (a write that claims to be the mesh's and cannot be read is refused, not let by).
    public enum Reading: Sendable, Equatable {
        case none
        case stamp(WriterStamp)
        case invalid(String)
    }

    public static func read(extras: [String: [String]]) -> Reading {
        if keys.allSatisfy({ extras[$0] == nil }) { return .none }
        var values: [String: String] = [:]
        for key in keys {
            guard let list = extras[key] else { continue }
            guard list.count == 1, let value = list.first, !value.isEmpty else {
                return .invalid("the mesh stamp carries \(key) \(list.count) times or empty")
            }
            values[key] = value
        }
        guard let shard = values[shardKey], let text = values[epochKey] else {
            return .invalid("the mesh stamp needs both \(shardKey) and \(epochKey)")
        }
        guard let epoch = UInt64(text) else { return .invalid("\(epochKey) \"\(text)\" is not an epoch") }
        return .stamp(WriterStamp(mesh: values[meshKey], shard: shard, epoch: epoch))
    }

    /// The extras of a request's `Impersonate-Extra-*` headers, keyed as the API server keys
    /// them: the name after the prefix, lowercased, then percent-decoded.
    public static func extras<Headers: Sequence>(ofHeaders headers: Headers) -> [String: [String]] where Headers.Element == (name: String, value: String) {
        var extras: [String: [String]] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            guard lower.hasPrefix(extraPrefix) else { continue }
            let raw = String(lower.dropFirst(extraPrefix.count))
            extras[percentDecoded(raw) ?? raw, default: []].append(value)
        }
        return extras
    }

    /// Whether a request header is one of the stamp's, however it is cased or encoded: the
    /// proxy drops a client's before it adds its own.
    public static func isStampHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        guard lower.hasPrefix(extraPrefix) else { return false }
        // A key whose escapes cannot be read is dropped too: it may be meant as the stamp.
        guard let key = percentDecoded(String(lower.dropFirst(extraPrefix.count))) else { return true }
        return key.hasPrefix("ctrlmesh.")
    }

    /// A header's extra key, percent-decoded; nil when its escapes are malformed.
    static func percentDecoded(_ text: String) -> String? {
        try? PercentEncoding.decode(text.utf8, plusIsSpace: false)
    }
}
