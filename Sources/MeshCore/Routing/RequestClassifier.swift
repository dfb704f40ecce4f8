import KubeModel

/// The proxy's first judgement of a request, before any shard rule: what it is, or why it is
/// refused. The proxy fails closed here: a target that does not parse is a 400, a path under
/// `/api` or `/apis` that is not a resource request the API server would route is a 404, and
/// a resource path asked for with a method the API server has no route for there (HEAD,
/// OPTIONS, a write to a `/watch/` path) is a 405, and a non-resource path passes only when it is one the API server serves to clients for
/// reading (discovery, version, OpenAPI, health); anything else is a 403.
public enum RequestClassification: Sendable, Equatable {
    /// A resource request, classified.
    case resource(RequestTarget, RequestInfo)
    /// A read of an allowed non-resource path.
    case nonResource(RequestTarget)
    case refused(StatusError)
}

public enum RequestClassifier {
    public static func classify(method: String, target raw: String) -> RequestClassification {
        let target: RequestTarget
        do {
            target = try RequestTarget.parse(raw)
        } catch {
            return .refused(.badRequest("the proxy refuses this request target: \(error.message)"))
        }
        if let info = RequestInfo.classify(method: method, target: target) { return .resource(target, info) }
        let segments = target.segments
        if segments.first == "api" || segments.first == "apis" {
            if isDiscovery(segments) { return readOnly(method, target) }
            if RequestInfo.methodNotAllowed(method: method, target: target) {
                return .refused(.methodNotAllowed("the proxy passes no \(method) to \(target.path); resources are read with GET"))
            }
            return .refused(StatusError(code: 404, reason: .notFound,
                                        message: "the proxy cannot classify \(method) \(target.path) as a resource request; it is refused"))
        }
        if isAllowedNonResource(segments) { return readOnly(method, target) }
        return .refused(.forbidden("the proxy passes only resource requests and reads of discovery, /version, /openapi and health paths; \(target.path) is refused"))
    }

    static func readOnly(_ method: String, _ target: RequestTarget) -> RequestClassification {
        guard method == "GET" || method == "HEAD" else {
            return .refused(.methodNotAllowed("the proxy passes only GET and HEAD to \(target.path)"))
        }
        return .nonResource(target)
    }

    /// `/api`, `/api/V`, `/apis`, `/apis/G`, `/apis/G/V`.
    static func isDiscovery(_ segments: [String]) -> Bool {
        switch segments.first {
        case "api": segments.count <= 2
        case "apis": segments.count <= 3
        default: false
        }
    }

    /// `/version`, `/openapi/v2`, `/openapi/v3[/…]`, `/healthz`, `/livez` and `/readyz`.
    static func isAllowedNonResource(_ segments: [String]) -> Bool {
        guard let first = segments.first else { return false }
        switch first {
        case "version": return segments.count == 1
        case "openapi": return segments.count >= 2 && (segments[1] == "v3" || (segments[1] == "v2" && segments.count == 2))
        case "healthz", "livez", "readyz": return segments.count == 1
        default: return false
        }
    }
}
