/// When the manager may take a member for dead, judged the way leader election judges a
/// Lease: by the local monotonic clock, from the moment the member's renewTime was last seen
/// to change (or the member was last heard from), never by comparing timestamps written on
/// another machine. A member is dead once that moment is older than the lease duration plus
/// the skew margin; its proxy fenced itself at its renew deadline, earlier still.
public struct MemberLiveness: Sendable {
    public typealias Instant = ContinuousClock.Instant

    struct Record: Sendable {
        var renewTime: String?
        var duration: Duration
        var lastEvidence: Instant
    }

    public let skew: Duration
    var records: [String: Record] = [:]

    public init(skew: Duration = .seconds(2)) {
        self.skew = skew
    }

    /// A lease as read: a changed renewTime is evidence of life now.
    public mutating func observeLease(_ id: String, renewTime: String?, duration: Duration, at now: Instant) {
        if var record = records[id] {
            if record.renewTime != renewTime { record.lastEvidence = now }
            record.renewTime = renewTime
            record.duration = duration
            records[id] = record
        } else {
            records[id] = Record(renewTime: renewTime, duration: duration, lastEvidence: now)
        }
    }

    /// The member was heard from directly (registration, heartbeat): life now, judged against
    /// `duration` if no lease has been seen yet.
    public mutating func heardFrom(_ id: String, duration: Duration, at now: Instant) {
        if records[id] == nil { records[id] = Record(renewTime: nil, duration: duration, lastEvidence: now) }
        records[id]?.lastEvidence = now
    }

    public mutating func forget(_ id: String) {
        records[id] = nil
    }

    public func isKnown(_ id: String) -> Bool { records[id] != nil }

    public var knownMembers: [String] { records.keys.sorted() }

    /// Members with no evidence of life for longer than their duration plus the skew margin.
    public func expired(at now: Instant) -> [String] {
        records.filter { now - $0.value.lastEvidence > $0.value.duration + skew }.map(\.key).sorted()
    }
}
