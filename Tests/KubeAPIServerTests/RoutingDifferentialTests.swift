import KubeAPIServer
import KubeModel
import MeshCore
import PropertyBased
import Testing

/// The class of bug where the proxy judged one request and the server served another: for
/// generated and mutated request targets, whatever the proxy lets through, re-encoded as it
/// forwards it, is routed by the API server exactly as the proxy classified it.
@Suite struct RoutingDifferentialTests {
    static let segments = ["api", "apis", "v1", "apps", "namespaces", "team-a", "team-b", "secrets", "pods", "s", "status", "scale",
                           "watch", "finalize", "version", "openapi", "v2", "v3", "healthz", "metrics", "debug", "..", ".", "",
                           "%2F", "%2e%2e", "%23", "a%20b", "-", "%25", "é", "%C3%A9", "%FF", "Secrets", "a;b", "x#y", "?"]
    static let queries = ["", "?watch=true", "?watch=1&watch=0", "?watch=false", "?labelSelector=a%3Db", "?x=%zz", "?a=1;b=2",
                          "?fieldSelector=metadata.name%3Dx&watch=true", "?dryRun=All", "?#", "?&&=&"]

    @Test func theServerRoutesWhatTheProxyJudged() async {
        let piece = Gen.element(of: RoutingDifferentialTests.segments).map { $0 ?? "" }
        let query = Gen.element(of: RoutingDifferentialTests.queries).map { $0 ?? "" }
        let method = Gen.element(of: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).map { $0 ?? "GET" }
        await propertyCheck(count: 5000, input: piece.array(of: 0...7), query, method, Gen.bool) { parts, query, method, slash in
            let raw = "/" + parts.joined(separator: "/") + (slash ? "/" : "") + query
            let forwarded: String
            let judged: Judgement
            switch RequestClassifier.classify(method: method, target: raw) {
            case .refused: return
            case .resource(let target, let info): (forwarded, judged) = (target.encoded, .resource(info))
            case .nonResource(let target): (forwarded, judged) = (target.encoded, .nonResource(path: target.path))
            }
            guard let received = try? RequestTarget.parse(forwarded) else {
                Issue.record("the server cannot parse what the proxy forwards for \(raw): \(forwarded)")
                return
            }
            #expect(APIServer.routing(method: method, target: received) == judged, "\(method) \(raw) forwarded as \(forwarded)")
            // The stamp the audit compares carries the judgement whole.
            #expect(Judgement(text: judged.text) == judged, "\(judged.text)")
        }
    }
}
