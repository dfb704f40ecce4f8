import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

/// A pooled connection to one API server: HTTP/2 over TLS when the server offers it (many
/// requests and watches share one connection), HTTP/1.1 otherwise. Bodies stream.
public final class APIConnection: Sendable {
    public let config: ClientConfig
    let client: HTTPClient

    public init(config: ClientConfig, eventLoopGroup: any EventLoopGroup = HTTPClient.defaultEventLoopGroup) {
        self.config = config
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: config.tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: nil),
            decompression: .disabled)
        configuration.httpVersion = .automatic
        // Watches hold HTTP/1.1 connections for their whole life.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 4096
        configuration.connectionPool.idleTimeout = .seconds(90)
        self.client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    /// Sends a request for `target` (path and query). Requests without an `Authorization`
    /// header get this connection's credentials. The deadline covers the response head; the
    /// body streams for as long as the server sends it.
    public func send(method: HTTPMethod, target: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil,
                     headDeadline: TimeAmount = .seconds(60)) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: config.server + target)
        request.method = method
        request.headers = headers
        authorize(&request.headers)
        if let body { request.body = .bytes(body) }
        return try await client.execute(request, timeout: headDeadline)
    }

    /// Adds this connection's credentials to headers that carry none.
    public func authorize(_ headers: inout HTTPHeaders) {
        if !headers.contains(name: "authorization"), let authorization = config.credentials.authorizationHeader() {
            headers.add(name: "authorization", value: authorization)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}
