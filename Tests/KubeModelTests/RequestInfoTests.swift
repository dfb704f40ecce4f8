@testable import KubeModel
import PropertyBased
import Testing

@Suite struct RequestInfoTests {
    func parse(_ method: String, _ uri: String) -> RequestInfo? {
        RequestInfo.classify(method: method, target: uri)
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

    /// As the API server's RequestInfoFactory: `watch=true` turns only a collection GET into a
    /// watch; a GET of one object stays a get (its handler returns the object).
    @Test func watchParameterOnANamedGetIsStillAGet() {
        #expect(parse("GET", "/api/v1/namespaces/ns/secrets/s?watch=true")?.verb == .get)
        #expect(parse("GET", "/api/v1/watch/namespaces/ns/secrets/s")?.verb == .watch)
    }

    /// Reads are GETs: the API server has no route for any other method to a read, nor for
    /// anything but GET to a `/watch/` path. Those are 405s, told apart from paths it does
    /// not serve at all.
    @Test func onlyGetReadsAndOnlyGetWatchesTheLegacyPath() throws {
        #expect(parse("HEAD", "/api/v1/namespaces/ns/pods/p") == nil)
        #expect(parse("DELETE", "/api/v1/watch/pods") == nil)
        #expect(parse("POST", "/api/v1/watch/namespaces/ns/configmaps") == nil)
        for (method, target) in [("HEAD", "/api/v1/pods"), ("OPTIONS", "/api/v1/namespaces/ns/pods/p"), ("DELETE", "/api/v1/watch/pods"),
                                 ("PUT", "/api/v1/watch/namespaces/ns/pods/p")] {
            #expect(RequestInfo.methodNotAllowed(method: method, target: try RequestTarget.parse(target)), "\(method) \(target)")
        }
        #expect(!RequestInfo.methodNotAllowed(method: "DELETE", target: try RequestTarget.parse("/api/v1/pods")))
        #expect(!RequestInfo.methodNotAllowed(method: "GET", target: try RequestTarget.parse("/api/v1/a/b/c/d/e")))
        // The proxy's own requests for a collection never take the `/watch/` form.
        let watch = try #require(parse("GET", "/api/v1/watch/namespaces/ns/configmaps"))
        #expect(watch.collectionPath(namespace: watch.namespace) == "/api/v1/namespaces/ns/configmaps")
    }

    /// The judgement stamp carries every field whole, a field that is `-` (the mark of an
    /// absent one) or empty included.
    @Test func judgementStampsRoundTrip() {
        let names: [String?] = [nil, "", "-", "%", "a b", "x/y", "é"]
        for namespace in names {
            for name in names {
                let judged = Judgement.resource(RequestInfo(verb: .list, group: "", version: "v1", resource: "configmaps",
                                                            subresource: name, namespace: namespace, name: name))
                #expect(Judgement(text: judged.text) == judged, "\(judged.text)")
            }
        }
    }

    @Test func queryDecoding() throws {
        let q = try QueryParameters(parsing: "labelSelector=app%3Dweb%2Ctier+in+(a)&watch=True&timeoutSeconds=5&watch=false")
        #expect(q["labelSelector"] == "app=web,tier in (a)")
        let timeout = try q.int("timeoutSeconds")
        #expect(q.bool("watch") && timeout == 5 && !q.bool("missing"))
        #expect(throws: RequestTargetError.self) { try QueryParameters(parsing: "limit=abc").int("limit") }
        #expect(throws: RequestTargetError.self) { try QueryParameters(parsing: "x=%zz") }
        #expect(throws: RequestTargetError.self) { try QueryParameters(parsing: "x=%FF") }
    }
}

@Suite struct RequestTargetTests {
    /// Every shape that once let a request through the proxy unjudged, or that some server
    /// reads differently from another, is refused when the target is parsed.
    @Test(arguments: [
        "/api/v1/namespaces/team-b/secrets/foreign-secret#/x/y",
        "/api/v1/secrets#/x/y/z",
        "api/v1/secrets", "http://example/api/v1/secrets", "*",
        "/api/v1//secrets", "/api/v1/secrets//", "/api/v1/namespaces/a/../b/secrets",
        "/api/v1/namespaces/a/%2e%2e/b/secrets", "/api/v1/namespaces/./secrets",
        "/api/v1/namespaces/a%2Fb/secrets", "/api/v1/namespaces/a%00/secrets", "/api/v1/namespaces/%zz/secrets",
        "/api/v1/namespaces/%C3%28/secrets", "/api/v1/namespaces/a b/secrets", "/api/v1/namespaces/\u{e9}/secrets",
        "/api/v1/secrets?x=%", "/api/v1/secrets?x=\u{7f}",
    ])
    func refusesTargetsReadDifferentlyElsewhere(_ raw: String) {
        #expect(throws: RequestTargetError.self) { try RequestTarget.parse(raw) }
    }

    @Test func encodesWhatItParsed() throws {
        let target = try RequestTarget.parse("/api/v1/namespaces/ns/configmaps/a%3Ab?labelSelector=app+in+(x%2Cy)&dryRun=All&command=a&command=b")
        #expect(target.segments == ["api", "v1", "namespaces", "ns", "configmaps", "a:b"])
        #expect(target.encoded == "/api/v1/namespaces/ns/configmaps/a%3Ab?labelSelector=app%20in%20%28x%2Cy%29&dryRun=All&command=a&command=b")
        #expect(try RequestTarget.parse(target.encoded) == target)
        #expect(try RequestTarget.parse("/").segments.isEmpty)
        #expect(try RequestTarget.parse("/version/?x=1").encoded == "/version?x=1")
    }

    /// Whatever parses encodes to a target that parses back to the same value.
    @Test func roundTripsArbitraryTargets() async {
        let piece = Gen.element(of: ["api", "v1", "%2F", "%25", "a b", "%20", "+", "~", "é", "%C3%A9", "ns", ".", "..", "%2e", "a:b", "?", "&", "=", "#", "%00", "x"])
            .map { $0 ?? "" }
        await propertyCheck(count: 2000, input: piece.array(of: 0...6), piece.array(of: 0...4)) { path, query in
            let raw = "/" + path.joined(separator: "/") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            guard let target = try? RequestTarget.parse(raw) else { return }
            #expect(target.segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("/") })
            #expect((try? RequestTarget.parse(target.encoded)) == target)
        }
    }
}
