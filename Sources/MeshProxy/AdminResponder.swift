import KubeModel
import MeshHTTP
import NIOHTTP1

/// The proxy's own endpoints, on a separate listener so they never collide with API paths:
/// `/metrics` (Prometheus), `/healthz`, `/readyz` (ready once a spec is applied) and
/// `/status` (the shard, its epoch and whether it is applied, as JSON).
struct AdminResponder: HTTPResponder {
    let state: ShardState
    let metrics: ProxyMetrics
    let policies: PolicyFilter
    let specSource: SpecFileSource?
    let session: ManagerSession?

    func respond(to request: ServerRequest, writer: ResponseWriter) async {
        switch request.path {
        case "/metrics":
            let spec = state.spec
            let text = metrics.exposition(shard: spec?.shard, epoch: spec?.epoch, appliedEpoch: state.appliedEpoch,
                                          openStreams: state.openStreams) + policies.exposition()
            await writer.respond(status: .ok, headers: ["content-type": "text/plain; version=0.0.4"], body: Array(text.utf8))
        case "/healthz", "/livez":
            await writer.respond(status: .ok, headers: ["content-type": "text/plain"], body: Array("ok".utf8))
        case "/readyz":
            let ready = state.appliedEpoch != nil
            await writer.respond(status: ready ? .ok : .serviceUnavailable, headers: ["content-type": "text/plain"],
                                 body: Array((ready ? "ok" : "no shard spec applied yet").utf8))
        case "/status":
            await writer.respond(status: .ok, headers: ["content-type": "application/json"], body: status().serialized())
        default:
            await writer.respond(status: .notFound, headers: ["content-type": "text/plain"], body: Array("not found\n".utf8))
        }
    }

    func status() -> JSON {
        let spec = state.spec
        var out: JSON = [
            "shard": spec.map { .string($0.shard) } ?? .null,
            "epoch": spec.map { .number(String($0.epoch)) } ?? .null,
            "appliedEpoch": state.appliedEpoch.map { .number(String($0)) } ?? .null,
            "openStreams": .int(state.openStreams),
        ]
        if let error = specSource?.error { out["specError"] = .string(error) }
        if let session {
            out["manager"] = .string(session.status)
            out["memberLease"] = .string(session.lease.isValid ? "valid" : "not valid")
        }
        return out
    }
}
