import AsyncHTTPClient
import KubeClient
import KubeModel
import Logging
import MeshCore
import MeshHTTP
@testable import MeshProxy
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// The proxy's request path end to end in one process: a real `HTTPServer` with the
/// `ShardRouter` in front, an in-process upstream behind, a real HTTP client. Each test names
/// the executor it exercises.
@Suite(.serialized) struct DataPathTests {
    static let configmaps = GroupResource(group: "", resource: "configmaps")

    static func namespaceSpec(_ namespaces: Set<String>, epoch: UInt64 = 1) -> ShardSpec {
        ShardSpec(shard: "s", epoch: epoch, resources: [.init(apiGroups: [""], resources: ["configmaps"], key: .namespace)],
                  owned: .init(namespaces: namespaces))
    }

    // MARK: Stream relay

    /// Passthrough requests on one client connection share one upstream connection: the
    /// loop's pool keeps it alive between requests, on either executor.
    @Test(arguments: [true, false]) func passthroughRequestsReuseOneUpstreamConnection(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), inline: inline) { bed in
            for _ in 0..<50 {
                let (status, body) = try await bed.get("/api/v1/namespaces/default")
                #expect(status == 200)
                #expect(try JSON.parse(body).name == "default")
            }
            #expect(bed.upstream.requests.count == 50)
            #expect(bed.pool.connectionsOpened == 1)
            #expect(bed.metrics.values.withLock { $0[.passedThrough] } == 50)
        }
    }

    /// A request the fence refuses from its head is answered with a Status and never reaches
    /// the API server.
    @Test func refusalsNeverReachTheUpstream() async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"])) { bed in
            let (status, body) = try await bed.get("/api/v1/namespaces/b/configmaps/x")
            #expect(status == 403)
            let object = try JSON.parse(body)
            #expect(object["kind"]?.stringValue == "Status" && object["reason"]?.stringValue == "Forbidden")
            let (bad, _) = try await bed.get("/api/v1/namespaces/a/configmaps/%2e%2e")
            #expect(bad == 400, "an unclassifiable target is refused")
            #expect(bed.upstream.requests.isEmpty)
        }
    }

    /// A write to an owned namespace goes out stamped with the shard's writer stamp and the
    /// operator's body byte for byte; a client's own stamp headers never do.
    @Test func namespaceKeyedWritesAreStampedAndForwardedAsSent() async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"])) { bed in
            let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"v"}}"#
            let (status, _) = try await bed.send(.POST, "/api/v1/namespaces/a/configmaps", body: body,
                                                 headers: ["content-type": "application/json",
                                                           "Impersonate-Extra-ctrlmesh.kruise.io%2Fshard": "forged"])
            #expect(status == 201)
            let seen = try #require(bed.upstream.requests.first)
            #expect(seen.body == Array(body.utf8))
            #expect(seen.headers["impersonate-extra-ctrlmesh.kruise.io%2Fshard"] == ["s"])
            #expect(seen.headers["impersonate-extra-ctrlmesh.kruise.io%2Fepoch"] == ["1"])
            #expect(seen.headers.first(name: "impersonate-user") == "system:serviceaccount:default:default")
        }
    }

    /// An `Upgrade` on a request that is not exec, attach, port-forward or a proxy
    /// subresource never reaches the API server: no upstream can switch a judged request into
    /// a byte stream nobody judges.
    @Test func upgradeHeadersOfOrdinaryRequestsAreDropped() async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"])) { bed in
            let (status, _) = try await bed.send(.GET, "/api/v1/namespaces/a/configmaps/c0",
                                                 headers: ["connection": "Upgrade", "upgrade": "websocket"])
            #expect(status == 200)
            let seen = try #require(bed.upstream.requests.first)
            #expect(!seen.headers.contains(name: "upgrade"))
            #expect(!seen.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" })
        }
    }

    // MARK: Filtered streams

    /// A list of a sharded resource comes back holding only the shard's items.
    @Test func filteredListsKeepOnlyTheShardsItems() async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"])) { bed in
            let (status, body) = try await bed.get("/api/v1/configmaps")
            #expect(status == 200)
            let items = try #require(try JSON.parse(body)["items"]?.arrayValue)
            #expect(items.map { $0.namespace } == ["a", "a"])
            #expect(bed.metrics.values.withLock { ($0[.itemsKept], $0[.itemsDropped]) } == (2, 2))
        }
    }

    /// A filtered watch whose slice a new spec changes ends with a 410 ERROR event, so its
    /// informer relists.
    @Test func filteredWatchesEndWithExpiredWhenTheSliceChanges() async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"])) { bed in
            let response = try await bed.open("/api/v1/configmaps?watch=true")
            #expect(response.status == .ok)
            var iterator = response.body.makeAsyncIterator()
            var received = [UInt8]()
            while !received.contains(UInt8(ascii: "\n")), let chunk = try await iterator.next() {
                received += chunk.readableBytesView
            }
            #expect(String(decoding: received, as: UTF8.self).contains("\"namespace\":\"a\""))
            await bed.state.apply(Self.namespaceSpec(["b"], epoch: 2))
            while let chunk = try await iterator.next() { received += chunk.readableBytesView }
            let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
            #expect(!lines.contains { $0.contains("\"namespace\":\"b\"") }, "nothing of another shard")
            let last = try JSON.parse(Array((lines.last ?? "").utf8))
            #expect(last["type"]?.stringValue == "ERROR" && last["object"]?["code"]?.intValue == 410)
        }
    }

    /// A list that a spec change revokes while it runs completes under the spec it began
    /// with (the change waits for it), and a watch from its resourceVersion is sent back to
    /// relist: the informer goes straight to its relist, not into its error backoff.
    @Test(arguments: [true, false]) func aListRevokedMidFlightCompletesAndItsWatchRelists(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), inline: inline) { bed in
            let response = try await bed.open("/api/v1/configmaps?slow=1")
            #expect(response.status == .ok)
            let change = Task { await bed.state.apply(Self.namespaceSpec(["b"], epoch: 2)) }
            let body = try await response.body.collect(upTo: 1 << 20)
            await change.value
            let list = try JSON.parse(Array(body.readableBytesView))
            #expect(list["items"]?.arrayValue?.compactMap { $0["metadata"]?["namespace"]?.stringValue } == ["a", "a"])
            let (status, watch) = try await bed.get("/api/v1/configmaps?watch=true&resourceVersion=9")
            #expect(status == 200 && String(decoding: watch, as: UTF8.self).contains("\"code\":410"))
            #expect(!bed.upstream.requests.contains { $0.uri.contains("watch=true") }, "answered by the proxy")
        }
    }

    // MARK: Judged requests (the async executor)

    /// A read whose key only the object tells goes to the async executor, which reads and
    /// judges it: owned comes back, not owned is refused.
    @Test func objectKeyedReadsAreJudgedByTheAsyncExecutor() async throws {
        let everything = ShardSpec(shard: "s", epoch: 1, resources: [.init(apiGroups: [""], resources: ["configmaps"], key: .object)],
                                   owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        try await withProxy(spec: everything) { bed in
            let (status, _) = try await bed.get("/api/v1/namespaces/a/configmaps/c0")
            #expect(status == 200)
            await bed.state.apply(ShardSpec(shard: "s", epoch: 2, resources: everything.resources, owned: .init()))
            let (refused, _) = try await bed.get("/api/v1/namespaces/a/configmaps/c0")
            #expect(refused == 403)
        }
    }

    /// An object read whole to judge it is read only up to a bound: an answer larger than any
    /// stored object is refused, not held.
    @Test func aJudgedReadHoldsNoAnswerLargerThanAnObject() async throws {
        let everything = ShardSpec(shard: "s", epoch: 1, resources: [.init(apiGroups: [""], resources: ["configmaps"], key: .object)],
                                   owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        try await withProxy(spec: everything) { bed in
            let (status, body) = try await bed.get("/api/v1/namespaces/a/configmaps/huge")
            #expect(status == 500)
            #expect(try JSON.parse(body)["message"]?.stringValue?.contains("larger than \(16 << 20) bytes") == true)
        }
    }

    /// What the async executor sends goes over the connections of the loop the request came
    /// on, the ones the event-loop executors use: judged reads and passthrough requests of
    /// one client connection share one upstream connection.
    @Test func theAsyncExecutorSharesTheLoopsUpstreamConnections() async throws {
        let everything = ShardSpec(shard: "s", epoch: 1, resources: [.init(apiGroups: [""], resources: ["configmaps"], key: .object)],
                                   owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        try await withProxy(spec: everything) { bed in
            for round in 0..<10 {
                let (judged, _) = try await bed.get("/api/v1/namespaces/a/configmaps/c\(round)")
                #expect(judged == 200)
                let (passed, _) = try await bed.get("/api/v1/namespaces/default")
                #expect(passed == 200)
            }
            #expect(bed.upstream.requests.count == 20)
            #expect(bed.pool.connectionsOpened == 1)
        }
    }

    /// A request the router hands over reaches the async executor with what the router made
    /// of it (classified, its headers judged), whole body included: it is not worked out twice.
    @Test func aHandedOverRequestCarriesTheRoutersJudgement() async throws {
        struct HandingOver: InlineRouter {
            func route(_ head: HTTPRequestHead, downstream: Downstream) -> InlineRoute { .handOver(routed: "judged \(head.uri)") }
        }
        final class Recorder: HTTPResponder {
            let seen = NIOLockedValueBox<[String]>([])
            func respond(to request: ServerRequest, writer: ResponseWriter) async {
                seen.withLockedValue { $0.append("\(request.routed as? String ?? "none") \(request.body.readableBytes)") }
                await writer.respond(status: .ok, headers: [:], body: [])
            }
        }
        let recorder = Recorder()
        let server = try await HTTPServer.start(.init(host: "127.0.0.1", port: 0, inlineRouter: HandingOver()), responder: recorder)
        try await HTTPClient.withHTTPClient { client in
            for (method, body) in [(HTTPMethod.GET, ""), (.POST, "{\"a\":1}")] {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/x")
                request.method = method
                if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
                _ = try await client.execute(request, timeout: .seconds(60)).body.collect(upTo: 1024)
            }
        }
        await server.close()
        #expect(recorder.seen.withLockedValue { $0 } == ["judged /x 0", "judged /x 7"])
    }

    /// An API server reached under a path (`https://host/prefix`) gets every request under
    /// it, from either executor; a URL with a query is no server address.
    @Test(arguments: [true, false]) func aServerUnderAPathGetsEveryRequestUnderIt(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), inline: inline, pathPrefix: "/base/") { bed in
            _ = try await bed.get("/api/v1/namespaces/default")
            #expect(bed.upstream.requests.map(\.uri) == ["/base/api/v1/namespaces/default"])
        }
        #expect(UpstreamPool.Endpoint(server: "https://h:6443", tls: nil)?.pathPrefix == "")
        #expect(UpstreamPool.Endpoint(server: "https://h:6443/k8s/clusters/c1//", tls: nil)?.pathPrefix == "/k8s/clusters/c1")
        for bad in ["https://h:6443/x?y=1", "https://h:6443/p q", "http://u:pw@h:6443/p", "https://h:6443/a#b", "ftp://h"] {
            #expect(UpstreamPool.Endpoint(server: bad, tls: nil) == nil, "\(bad)")
        }
    }

    /// Over an HTTP/2 upstream every request is a stream of one connection, and a stream whose
    /// answer ended is left to close by itself: closing it would reset it, and a server drops
    /// a connection that resets too many streams (NIO's after 200 in 30 s). Hundreds of
    /// requests from both executors share that one connection.
    @Test func hundredsOfStreamsShareOneHTTP2UpstreamConnection() async throws {
        let everything = ShardSpec(shard: "s", epoch: 1, resources: [.init(apiGroups: [""], resources: ["configmaps"], key: .object)],
                                   owned: .init(objectHashRanges: [HashRange(start: 0, last: .max)]))
        try await withProxy(spec: everything, tls: true) { bed in
            for round in 0..<300 {
                let (judged, _) = try await bed.get("/api/v1/namespaces/a/configmaps/c\(round)")
                let (passed, _) = try await bed.get("/api/v1/namespaces/default")
                try #require(judged == 200 && passed == 200, "round \(round): \(judged), \(passed)")
            }
            #expect(bed.upstream.requests.count == 600)
            #expect(bed.pool.connectionsOpened == 1)
        }
    }

    // MARK: Failures and back-pressure

    /// An upstream that dies half way through a relayed body leaves the client a failed
    /// response, never one that looks complete.
    @Test(arguments: [true, false]) func upstreamFailureMidStreamIsNotAShortSuccess(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), inline: inline) { bed in
            await #expect(throws: (any Error).self) {
                let response = try await bed.open("/api/v1/pods?cut=1")
                _ = try await response.body.collect(upTo: 1 << 24)
            }
        }
    }

    /// No API server: a Status 503, not a hang.
    @Test(arguments: [true, false]) func unreachableUpstreamAnswers503(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), upstreamDown: true, inline: inline) { bed in
            let (status, body) = try await bed.get("/api/v1/namespaces/default")
            #expect(status == 503)
            #expect(try JSON.parse(body)["reason"]?.stringValue == "ServiceUnavailable")
        }
    }

    /// A client that stops reading a 100 MiB watch stops the proxy reading upstream: what the
    /// upstream managed to send is bounded by socket buffers and a window, not the stream —
    /// on the event loop and through the async executor alike.
    @Test(arguments: [true, false]) func aSlowReaderHoldsBackTheUpstream(inline: Bool) async throws {
        try await withProxy(spec: Self.namespaceSpec(["a"]), inline: inline) { bed in
            let response = try await bed.open("/api/v1/pods?watch=true&big=1")
            #expect(response.status == .ok)
            try await Task.sleep(for: .seconds(2))
            let sentWhileStalled = bed.upstream.bigSent.withLockedValue { $0 }
            #expect(sentWhileStalled < 24 << 20, "sent \(sentWhileStalled) bytes to a client that read none")
            var total = 0
            for try await chunk in response.body { total += chunk.readableBytes }
            #expect(total == TestUpstream.bigBytes)
        }
    }

    // MARK: The bed

    struct Bed {
        let proxyPort: Int
        let client: HTTPClient
        let upstream: TestUpstream
        let pool: UpstreamPool
        let state: ShardState
        let metrics: ProxyMetrics

        func open(_ target: String) async throws -> HTTPClientResponse {
            try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(proxyPort)\(target)"), timeout: .seconds(30))
        }

        func get(_ target: String) async throws -> (Int, [UInt8]) {
            try await send(.GET, target)
        }

        func send(_ method: HTTPMethod, _ target: String, body: String? = nil, headers: HTTPHeaders = [:]) async throws -> (Int, [UInt8]) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(proxyPort)\(target)")
            request.method = method
            request.headers = headers
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await client.execute(request, timeout: .seconds(30))
            return (Int(response.status.code), Array(try await response.body.collect(upTo: 1 << 26).readableBytesView))
        }
    }

    /// A proxy in front of a `TestUpstream`; `inline: false` leaves every request to the async
    /// executor (as `--async-data-path` does).
    func withProxy(spec: ShardSpec, upstreamDown: Bool = false, inline: Bool = true, pathPrefix: String = "", tls: Bool = false,
                   _ body: (Bed) async throws -> Void) async throws {
        let upstream = TestUpstream()
        // Over TLS the upstream offers h2, as a kube-apiserver does: every request is a stream.
        let certificates = tls ? try SelfSignedCertificates(commonName: "upstream", hosts: ["127.0.0.1"]) : nil
        let upstreamServer = try await HTTPServer.start(.init(host: "127.0.0.1", port: 0, tls: try certificates?.serverContext()),
                                                        responder: upstream)
        let upstreamPort = upstreamServer.port
        if upstreamDown { await upstreamServer.close() }
        var config = ClientConfig(server: "\(tls ? "https" : "http")://127.0.0.1:\(upstreamPort)\(pathPrefix)")
        if let certificates {
            var trust = TLSConfiguration.makeClientConfiguration()
            trust.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificates.caCertificatePEM.utf8)))
            config.tls = trust
        }
        let connection = APIConnection(config: config)
        let state = ShardState()
        await state.apply(spec)
        let metrics = ProxyMetrics()
        let pool = UpstreamPool(endpoint: try #require(UpstreamPool.Endpoint(server: config.server, tls: config.tls)))
        let proxy = ShardProxy(upstream: connection, pool: pool, state: state, namespaceLabels: NamespaceLabelCache(), metrics: metrics,
                               policies: PolicyFilter(logger: Logger(label: "test")))
        let server = try await HTTPServer.start(.init(host: "127.0.0.1", port: 0, respondOnEventLoop: true,
                                                      inlineRouter: inline ? ShardRouter(proxy: proxy) : nil), responder: proxy)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let bed = Bed(proxyPort: server.port, client: client, upstream: upstream, pool: pool, state: state, metrics: metrics)
        do {
            try await body(bed)
        } catch {
            try? await client.shutdown()
            await server.close()
            await upstreamServer.close()
            await connection.shutdown()
            throw error
        }
        try await client.shutdown()
        await server.close()
        await upstreamServer.close()
        await connection.shutdown()
    }
}

/// An API server stand-in: two namespaces of configmaps, a watch of them, and streams that
/// fail or run long on request. It records what reached it.
final class TestUpstream: HTTPResponder {
    struct Seen: Sendable {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    static let bigBytes = 100 << 20
    let seen = NIOLockedValueBox<[Seen]>([])
    let bigSent = NIOLockedValueBox(0)

    var requests: [Seen] { seen.withLockedValue { $0 } }

    static func configMap(_ namespace: String, _ name: String) -> String {
        #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)","namespace":"\#(namespace)","uid":"uid-\#(namespace)-\#(name)","resourceVersion":"5"}}"#
    }

    /// Four configmaps, two in each namespace, at resourceVersion 9.
    static let configMapList: [UInt8] = {
        let items = [("a", "c0"), ("b", "c1"), ("a", "c2"), ("b", "c3")].map { configMap($0.0, $0.1) }
        return Array(#"{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"9"},"items":[\#(items.joined(separator: ","))]}"#.utf8)
    }()

    func respond(to request: ServerRequest, writer: ResponseWriter) async {
        seen.withLockedValue { $0.append(Seen(method: request.method, uri: request.uri, headers: request.headers, body: request.bodyBytes)) }
        let json: HTTPHeaders = ["content-type": "application/json"]
        let path = String(request.path)
        if request.uri.contains("big=1") { return await streamBig(writer) }
        if request.uri.contains("cut=1") {
            try? await writer.writeHead(status: .ok, headers: ["content-type": "application/json", "content-length": "100000"])
            try? await writer.writeBody(Array(repeating: UInt8(ascii: " "), count: 1000))
            return writer.abort()
        }
        if request.uri.contains("slow=1") {
            // The list in two halves, 400 ms apart.
            let body = TestUpstream.configMapList
            try? await writer.writeHead(status: .ok, headers: json)
            try? await writer.writeBody(Array(body.prefix(body.count / 2)))
            try? await Task.sleep(for: .milliseconds(400))
            try? await writer.writeBody(Array(body.dropFirst(body.count / 2)))
            try? await writer.end()
            return
        }
        if request.uri.contains("watch=true") {
            try? await writer.writeHead(status: .ok, headers: json)
            for (namespace, name) in [("a", "c0"), ("b", "c1"), ("a", "c2")] {
                try? await writer.writeBody(Array(#"{"type":"ADDED","object":\#(TestUpstream.configMap(namespace, name))}"#.utf8) + [10])
            }
            await writer.waitForClose()
            return
        }
        switch (request.method, path) {
        case (.GET, "/api/v1/namespaces/default"):
            await writer.respond(status: .ok, headers: json, body: Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"#.utf8))
        case (.GET, "/api/v1/configmaps"):
            await writer.respond(status: .ok, headers: json, body: TestUpstream.configMapList)
        case (.GET, "/api/v1/namespaces/a/configmaps/huge"):
            let padding = String(repeating: "x", count: 20 << 20)
            await writer.respond(status: .ok, headers: json, body: Array(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge","namespace":"a","uid":"u"},"data":{"x":"\#(padding)"}}"#.utf8))
        case (.GET, _) where path.hasPrefix("/api/v1/namespaces/a/configmaps/"):
            await writer.respond(status: .ok, headers: json, body: Array(TestUpstream.configMap("a", String(path.split(separator: "/").last ?? "")).utf8))
        case (.POST, _):
            await writer.respond(status: .created, headers: json, body: request.bodyBytes)
        default:
            await writer.respond(StatusError(code: 404, reason: .notFound, message: "\(path) not found"))
        }
    }

    /// 100 MiB of watch events, written as fast as the reader takes them.
    func streamBig(_ writer: ResponseWriter) async {
        do {
            try await writer.writeHead(status: .ok, headers: ["content-type": "application/json"])
            let line = Array(#"{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"x","resourceVersion":"1"}},"pad":""#.utf8)
            var chunk = [UInt8]()
            while chunk.count < 64 << 10 { chunk += line + Array(repeating: UInt8(ascii: "x"), count: 900) + Array("\"}\n".utf8) }
            var sent = 0
            while sent < TestUpstream.bigBytes {
                let piece = chunk.prefix(TestUpstream.bigBytes - sent)
                try await writer.writeBody(Array(piece))
                sent += piece.count
                bigSent.withLockedValue { $0 = sent }
            }
            try await writer.end()
        } catch {
            writer.abort()
        }
    }
}
