/// The decision part of client-go's `tryAcquireOrRenew`, without I/O. The elector reads the
/// Lease, asks what to write, and writes it with the resourceVersion it read, so two candidates
/// that decide at once collide on 409 and only one wins.
///
/// Expiry is judged as client-go judges it: by this process's monotonic clock from the moment
/// it last saw the record change, never by the timestamps in the Lease, so clock skew between
/// candidates does not matter.
public struct LeaseElection: Sendable {
    public let identity: String
    public let leaseDurationSeconds: Int
    public private(set) var observedRecord: LeaderElectionRecord?
    /// Monotonic seconds when `observedRecord` last changed.
    public private(set) var observedTime: Double = 0

    public enum Decision: Equatable, Sendable {
        /// No Lease exists: create it holding this record.
        case create(LeaderElectionRecord)
        /// Write this record over the Lease read.
        case update(LeaderElectionRecord)
        /// Another candidate holds an unexpired lease.
        case followerOf(String)
    }

    public init(identity: String, leaseDurationSeconds: Int) {
        self.identity = identity
        self.leaseDurationSeconds = leaseDurationSeconds
    }

    /// Whether this candidate held the lease at its last successful read or write.
    public var isLeader: Bool { observedRecord?.holderIdentity == identity }

    /// `current` is the Lease's record (nil when there is none); `now` monotonic seconds;
    /// `wallTime` the MicroTime to stamp.
    public mutating func decide(current: LeaderElectionRecord?, now: Double, wallTime: String) -> Decision {
        guard let current else {
            return .create(LeaderElectionRecord(holderIdentity: identity, leaseDurationSeconds: leaseDurationSeconds,
                                                acquireTime: wallTime, renewTime: wallTime, leaseTransitions: 0))
        }
        if current != observedRecord {
            observedRecord = current
            observedTime = now
        }
        let heldByOther = !current.holderIdentity.isEmpty && current.holderIdentity != identity
        if heldByOther && observedTime + Double(current.leaseDurationSeconds) > now {
            return .followerOf(current.holderIdentity)
        }
        var record = LeaderElectionRecord(holderIdentity: identity, leaseDurationSeconds: leaseDurationSeconds,
                                          acquireTime: wallTime, renewTime: wallTime, leaseTransitions: current.leaseTransitions)
        if current.holderIdentity == identity {
            record.acquireTime = current.acquireTime
        } else {
            record.leaseTransitions += 1
        }
        return .update(record)
    }

    /// The write of `record` succeeded.
    public mutating func wrote(_ record: LeaderElectionRecord, now: Double) {
        observedRecord = record
        observedTime = now
    }

    /// The record that gives the lease up on shutdown (client-go's `ReleaseOnCancel`): no
    /// holder and a one-second duration, so a waiting candidate takes over at once.
    public func releaseRecord(wallTime: String) -> LeaderElectionRecord? {
        guard let observed = observedRecord, isLeader else { return nil }
        return LeaderElectionRecord(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: wallTime, renewTime: wallTime,
                                    leaseTransitions: observed.leaseTransitions)
    }
}
