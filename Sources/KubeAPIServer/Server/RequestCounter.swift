import KubeModel
import Synchronization

/// Counts resource requests by verb and resource, exposed on `/metrics` as
/// `apiserver_request_total` (the name and labels the real API server uses), so tests can
/// prove which requests reached the server.
final class RequestCounter: Sendable {
    let counts = Mutex([String: Int]())

    func count(_ info: RequestInfo) {
        let key = "verb=\"\(info.verb.rawValue.uppercased())\",group=\"\(info.group)\",resource=\"\(info.resource)\",subresource=\"\(info.subresource ?? "")\""
        counts.withLock { $0[key, default: 0] += 1 }
    }

    func exposition() -> String {
        var out = "# HELP apiserver_request_total Resource requests received, by verb and resource.\n# TYPE apiserver_request_total counter\n"
        for (key, value) in counts.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out += "apiserver_request_total{\(key)} \(value)\n"
        }
        return out
    }
}
