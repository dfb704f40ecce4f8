import KubeModel
import MeshCore
import Synchronization

/// Counters the proxy exposes in the Prometheus text format on its admin listener.
public final class ProxyMetrics: Sendable {
    public enum Counter: String, CaseIterable, Sendable {
        case requests = "ctrlmesh_proxy_requests_total"
        case passedThrough = "ctrlmesh_proxy_passthrough_requests_total"
        case refused = "ctrlmesh_proxy_refused_requests_total"
        case writesAborted = "ctrlmesh_proxy_writes_aborted_total"
        case filteredLists = "ctrlmesh_proxy_filtered_lists_total"
        case filteredWatches = "ctrlmesh_proxy_filtered_watches_total"
        case itemsKept = "ctrlmesh_proxy_items_kept_total"
        case itemsDropped = "ctrlmesh_proxy_items_dropped_total"
        case eventsKept = "ctrlmesh_proxy_watch_events_kept_total"
        case eventsDropped = "ctrlmesh_proxy_watch_events_dropped_total"
        case watchesExpired = "ctrlmesh_proxy_watches_expired_total"
        case lockRenames = "ctrlmesh_proxy_leader_lock_renames_total"
        case upstreamErrors = "ctrlmesh_proxy_upstream_errors_total"
        case filterErrors = "ctrlmesh_proxy_filter_errors_total"
        case shardedCalls = "ctrlmesh_proxy_sharded_calls_total"
        case shardedCallErrors = "ctrlmesh_proxy_sharded_call_errors_total"

        var help: String {
            switch self {
            case .requests: "Requests received from the operator."
            case .passedThrough: "Requests forwarded without sharding."
            case .refused: "Requests refused with 403 because the key is not owned by this shard."
            case .writesAborted: "Admitted writes not sent: the spec changed, the member lease lapsed or the write waited too long."
            case .filteredLists: "List responses filtered to the shard."
            case .filteredWatches: "Watch streams filtered to the shard."
            case .itemsKept: "List items delivered."
            case .itemsDropped: "List items withheld (owned by another shard)."
            case .eventsKept: "Watch events delivered."
            case .eventsDropped: "Watch events withheld (owned by another shard)."
            case .watchesExpired: "Watches ended with 410 Expired because the shard's slice changed."
            case .lockRenames: "Requests for the leader-election lock renamed to the shard's lock."
            case .upstreamErrors: "Requests that failed to reach the API server."
            case .filterErrors: "Responses ended because their body could not be filtered."
            case .shardedCalls: "Single-object calls on sharded resources the API server answered (or failed to)."
            case .shardedCallErrors: "Of those, the ones answered 400, 403, 422 or 5xx, or not at all: what a canary is judged by."
            }
        }
    }

    let values = Mutex([Counter: Int]())

    public init() {}

    /// The sharded calls and their errors, read together so a report never has more errors than calls.
    func shardedCallCounts() -> (calls: Int, errors: Int) {
        values.withLock { ($0[.shardedCalls] ?? 0, $0[.shardedCallErrors] ?? 0) }
    }

    /// The API server's answer to a call, tallied when it is a sharded call (nil: no answer):
    /// a single-object call on a sharded resource, what a canary is judged by
    /// (`ShardProxy.isShardedCall`).
    func tally(status: Int?, shardedCall: Bool) {
        guard shardedCall else { return }
        add(.shardedCalls)
        if status.map(CanaryRollout.Errors.countsAsError(status:)) ?? true { add(.shardedCallErrors) }
    }

    /// An answer the proxy gave itself: a 403 counts as a refusal.
    func countAnswer(_ status: StatusError) {
        if status.code == 403 { add(.refused) }
    }

    public func add(_ counter: Counter, _ amount: Int = 1) {
        guard amount != 0 else { return }
        values.withLock { $0[counter, default: 0] += amount }
    }


    /// The text exposition format, with the shard's epochs as gauges.
    public func exposition(shard: String?, epoch: UInt64?, appliedEpoch: UInt64?, openStreams: Int) -> String {
        let snapshot = values.withLock { $0 }
        var out = ""
        for counter in Counter.allCases {
            out += "# HELP \(counter.rawValue) \(counter.help)\n# TYPE \(counter.rawValue) counter\n"
            out += "\(counter.rawValue) \(snapshot[counter] ?? 0)\n"
        }
        let label = "{shard=\"\(shard ?? "")\"}"
        out += "# HELP ctrlmesh_proxy_spec_epoch Epoch of the shard spec in force (-1 without a spec).\n# TYPE ctrlmesh_proxy_spec_epoch gauge\n"
        out += "ctrlmesh_proxy_spec_epoch\(label) \(epoch.map { String($0) } ?? "-1")\n"
        out += "# HELP ctrlmesh_proxy_applied_epoch Epoch fully applied (old streams ended, old writes done).\n# TYPE ctrlmesh_proxy_applied_epoch gauge\n"
        out += "ctrlmesh_proxy_applied_epoch\(label) \(appliedEpoch.map { String($0) } ?? "-1")\n"
        out += "# HELP ctrlmesh_proxy_open_streams Lists and watches being relayed.\n# TYPE ctrlmesh_proxy_open_streams gauge\n"
        out += "ctrlmesh_proxy_open_streams \(openStreams)\n"
        return out
    }
}
