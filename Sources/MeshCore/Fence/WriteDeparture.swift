/// Whether a write the proxy admitted may still leave for the API server. Admission judged it
/// under one spec; by the time it is written upstream the spec may have changed, the member
/// lease may have lapsed, or the process may have been paused for longer than any lease. The
/// write leaves only if none of that happened: otherwise it is aborted, never released late.
/// (A pause between this check and the bytes reaching the socket is what the fence at the API
/// server is for.)
public enum WriteDeparture {
    /// Why the write must not leave, or nil. `leaseValid` is nil for a proxy with no member
    /// lease (a spec file).
    public static func refusal(admittedEpoch: UInt64, currentEpoch: UInt64?, leaseValid: Bool?, age: Duration, bound: Duration) -> String? {
        if leaseValid == false {
            return "the proxy's member lease lapsed before the write left it; the write was not sent"
        }
        guard let currentEpoch else {
            return "the proxy fenced (no shard spec is in force) before the write left it; the write was not sent"
        }
        if currentEpoch != admittedEpoch {
            return "the shard spec changed from epoch \(admittedEpoch) to \(currentEpoch) before the write left the proxy; the write was not sent"
        }
        if age > bound {
            return "the write waited \(age) in the proxy, longer than \(bound), and was not sent"
        }
        return nil
    }
}
