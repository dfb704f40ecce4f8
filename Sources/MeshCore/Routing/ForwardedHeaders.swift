import KubeModel

/// The request headers that go upstream: the ones a Kubernetes client sends and the API server
/// reads (content negotiation, credentials, impersonation, audit id) and those an exec, attach
/// or port-forward upgrade needs. Every other header is dropped at the proxy's door: a method
/// override, a front proxy's identity headers (`X-Remote-User`…), `Forwarded` or anything
/// else the proxy did not judge never reaches the server. The mesh's stamp (impersonation
/// extras under `ctrlmesh.`) is the proxy's own and is set after this.
public enum ForwardedHeaders {
    static let names: Set<String> = [
        "accept", "accept-encoding", "authorization", "content-type", "user-agent", "audit-id",
        "impersonate-user", "impersonate-group", "impersonate-uid",
        "connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
        "sec-websocket-extensions", "x-stream-protocol-version",
    ]

    public static func forwards(_ name: String) -> Bool {
        let lower = name.lowercased()
        return names.contains(lower) || (lower.hasPrefix("impersonate-extra-") && !WriterStamp.isStampHeader(lower))
    }

    /// Why the proxy would judge the body of a request with these headers as one thing while the
    /// server reads another, or nil: an encoded body (the API server decodes none, the proxy
    /// reads the bytes as they came), or more than one Content-Type.
    public static func refusal<Headers: Sequence>(_ headers: Headers) -> StatusError? where Headers.Element == (name: String, value: String) {
        var contentTypes = 0
        for (name, value) in headers {
            switch name.lowercased() {
            case "content-type":
                contentTypes += 1
                if contentTypes > 1 { return .badRequest("the proxy refuses a request with more than one Content-Type") }
            case "content-encoding":
                for encoding in value.split(separator: ",") {
                    let token = String(encoding.filter { $0 != " " && $0 != "\t" }).lowercased()
                    if token != "identity" {
                        return StatusError(code: 415, reason: .unsupportedMediaType,
                                           message: "the proxy does not forward request bodies with Content-Encoding \(token)")
                    }
                }
            default:
                continue
            }
        }
        return nil
    }
}
