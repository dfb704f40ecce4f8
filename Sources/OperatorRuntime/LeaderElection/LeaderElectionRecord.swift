import KubeModel

/// The leader-election fields of a `coordination.k8s.io/v1` Lease spec, as client-go reads
/// and writes them.
public struct LeaderElectionRecord: Equatable, Sendable {
    public var holderIdentity: String
    public var leaseDurationSeconds: Int
    public var acquireTime: String
    public var renewTime: String
    public var leaseTransitions: Int

    public init(holderIdentity: String, leaseDurationSeconds: Int, acquireTime: String, renewTime: String, leaseTransitions: Int) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }

    public init(lease: JSON) {
        let spec = lease["spec"]
        holderIdentity = spec?["holderIdentity"]?.stringValue ?? ""
        leaseDurationSeconds = Int(spec?["leaseDurationSeconds"]?.intValue ?? 0)
        acquireTime = spec?["acquireTime"]?.stringValue ?? ""
        renewTime = spec?["renewTime"]?.stringValue ?? ""
        leaseTransitions = Int(spec?["leaseTransitions"]?.intValue ?? 0)
    }

    /// Writes the record into a Lease's spec, keeping the rest of the object.
    public func apply(to lease: inout JSON) {
        lease.setValue(.string(holderIdentity), at: ["spec", "holderIdentity"])
        lease.setValue(.int(leaseDurationSeconds), at: ["spec", "leaseDurationSeconds"])
        lease.setValue(acquireTime.isEmpty ? nil : .string(acquireTime), at: ["spec", "acquireTime"])
        lease.setValue(renewTime.isEmpty ? nil : .string(renewTime), at: ["spec", "renewTime"])
        lease.setValue(.int(leaseTransitions), at: ["spec", "leaseTransitions"])
    }
}
