import AsyncHTTPClient
import KubeAPIServer
import Testing

/// The emulated round trip of a remote API server (`Options.requestLatency`): every request
/// waits it before it is served.
@Suite struct RequestLatencyTests {
    @Test func everyRequestWaitsTheLatencyBeforeItIsServed() async throws {
        var configuration = EmbeddedAPIServer.Configuration()
        configuration.options.requestLatency = .milliseconds(150)
        let server = try await EmbeddedAPIServer.start(configuration)
        // Shut down on every path: a client dropped while running is a crash, not a failure.
        try await HTTPClient.withHTTPClient { client in
            let clock = ContinuousClock()
            for path in ["/api/v1/namespaces/default", "/healthz"] {
                let started = clock.now
                let response = try await client.execute(HTTPClientRequest(url: server.url + path), timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 1 << 20)
                #expect(response.status == .ok)
                #expect(clock.now - started >= .milliseconds(150), "\(path)")
            }
        }
        await server.close()
    }
}
