@testable import KubeModel
import Testing

@Suite struct RequestInfoTests {
    func parse(_ method: String, _ uri: String) -> RequestInfo? {
        let parts = uri.split(separator: "?", maxSplits: 1)
        return RequestInfo.parse(method: method, path: parts[0], query: QueryParameters(parts.count > 1 ? parts[1] : ""))
    }

    @Test func resourcePaths() {
        #expect(parse("GET", "/api/v1/namespaces/ns/pods/p/status") ==
                RequestInfo(verb: .get, group: "", version: "v1", resource: "pods", subresource: "status", namespace: "ns", name: "p"))
        #expect(parse("GET", "/apis/apps/v1/deployments?watch=true")?.verb == .watch)
        #expect(parse("GET", "/apis/apps/v1/deployments?watch=false")?.verb == .list)
        #expect(parse("GET", "/api/v1/watch/namespaces/ns/configmaps")?.verb == .watch)
        #expect(parse("GET", "/api/v1/namespaces/ns") ==
                RequestInfo(verb: .get, group: "", version: "v1", resource: "namespaces", subresource: nil, namespace: nil, name: "ns"))
        #expect(parse("DELETE", "/api/v1/namespaces/ns/configmaps")?.verb == .deletecollection)
        #expect(parse("PATCH", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l")?.name == "l")
        #expect(parse("GET", "/version") == nil)
        #expect(parse("GET", "/api/v1/namespaces/a/pods/b/c/d") == nil)
    }

    @Test func queryDecoding() {
        let q = QueryParameters("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=True&timeoutSeconds=5")
        #expect(q["labelSelector"] == "app=web,tier in (a)")
        #expect(q.bool("watch") && q.int("timeoutSeconds") == 5 && !q.bool("missing"))
    }
}

import PropertyBased

@Suite struct RequestInfoFuzzTests {
    /// Any path and method classify without crashing, and a classified request names a
    /// resource.
    @Test func classifiesArbitraryPaths() async {
        let segment = Gen.element(of: ["api", "apis", "v1", "namespaces", "ns", "pods", "watch", "status", "", "%zz", "%2F", "..", "a b"])
            .map { $0 ?? "" }
        await propertyCheck(count: 1000, input: segment.array(of: 0...8), Gen.element(of: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "TRACE"])) { parts, method in
            let path = "/" + parts.joined(separator: "/")
            if let info = RequestInfo.parse(method: method ?? "GET", path: path[...], query: QueryParameters("watch=1&x=%")) {
                #expect(!info.resource.isEmpty)
            }
        }
    }
}
