/// Checks a record of writes for the mesh's one promise: no key written by two shards at
/// overlapping epochs. Each write carries the writing proxy's shard and spec epoch (the proxy
/// stamps them; the API server records them in commit order). Per ownership key, every
/// (shard, epoch) pair spans the resourceVersions of its first and last write; two spans of
/// different shards must not overlap. A shard may own a key again later, under a newer epoch.
public enum OwnershipAudit {
    public struct Write: Sendable, Equatable {
        public var resourceVersion: UInt64
        /// What ownership is judged by: the controller owner's uid, else the object's own
        /// (or its namespace, for namespace sharding).
        public var key: String
        public var shard: String
        public var epoch: UInt64

        public init(resourceVersion: UInt64, key: String, shard: String, epoch: UInt64) {
            self.resourceVersion = resourceVersion
            self.key = key
            self.shard = shard
            self.epoch = epoch
        }
    }

    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public var key: String
        public var first: (shard: String, epoch: UInt64, from: UInt64, to: UInt64)
        public var second: (shard: String, epoch: UInt64, from: UInt64, to: UInt64)

        public var description: String {
            "key \(key): \(first.shard)@\(first.epoch) wrote at rv \(first.from)...\(first.to) while \(second.shard)@\(second.epoch) wrote at rv \(second.from)...\(second.to)"
        }

        public static func == (a: Violation, b: Violation) -> Bool { a.description == b.description }
    }

    public struct Report: Sendable {
        public var writes: Int
        public var keys: Int
        /// Keys written by more than one shard over the record (handed over, legitimately).
        public var keysMoved: Int
        public var violations: [Violation]
    }

    public static func check(_ writes: [Write]) -> Report {
        struct Span { var shard: String; var epoch: UInt64; var from: UInt64; var to: UInt64 }
        var spans: [String: [String: Span]] = [:]
        for write in writes {
            let id = "\(write.shard)\u{0}\(write.epoch)"
            if var span = spans[write.key]?[id] {
                span.from = min(span.from, write.resourceVersion)
                span.to = max(span.to, write.resourceVersion)
                spans[write.key]![id] = span
            } else {
                spans[write.key, default: [:]][id] = Span(shard: write.shard, epoch: write.epoch, from: write.resourceVersion, to: write.resourceVersion)
            }
        }
        var violations: [Violation] = []
        var moved = 0
        for (key, byID) in spans.sorted(by: { $0.key < $1.key }) {
            let sorted = byID.values.sorted { ($0.from, $0.shard) < ($1.from, $1.shard) }
            if Set(sorted.map(\.shard)).count > 1 { moved += 1 }
            for i in sorted.indices {
                for j in sorted.indices where j > i && sorted[j].from <= sorted[i].to && sorted[j].shard != sorted[i].shard {
                    let a = sorted[i], b = sorted[j]
                    violations.append(Violation(key: key, first: (a.shard, a.epoch, a.from, a.to), second: (b.shard, b.epoch, b.from, b.to)))
                }
            }
        }
        return Report(writes: writes.count, keys: spans.count, keysMoved: moved, violations: violations)
    }
}
