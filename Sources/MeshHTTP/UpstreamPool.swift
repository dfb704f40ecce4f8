import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

/// Connections to one upstream server, kept per event loop: a request served on a loop goes
/// out on a connection owned by the same loop, so its bytes never change threads and no lock
/// is taken per request. Over TLS the server is offered HTTP/2 first: each loop then has one
/// connection and every request (watches too) is a stream of it; otherwise (cleartext, or a
/// server that picks http/1.1) HTTP/1.1 keep-alive connections are pooled.
public final class UpstreamPool: Sendable {
    public struct Endpoint: Sendable {
        public var host: String
        public var port: Int
        /// TLS to the upstream (ALPN offers h2, then http/1.1), nil for cleartext.
        public var tls: NIOSSLContext?
        /// `host:port` as the Host header names it.
        public var authority: String
        /// The server URL's path (an API server reached under a prefix), without a trailing
        /// `/`: every request target goes under it. Empty for most servers.
        public var pathPrefix: String

        /// The endpoint of a `scheme://host[:port]` server URL; nil for anything else.
        public init?(server: String, tls: TLSConfiguration?) {
            let isTLS: Bool
            let rest: Substring
            if server.hasPrefix("https://") {
                (isTLS, rest) = (true, server.dropFirst(8))
            } else if server.hasPrefix("http://") {
                (isTLS, rest) = (false, server.dropFirst(7))
            } else {
                return nil
            }
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let authority = parts.first ?? ""
            var path = parts.count > 1 ? "/" + parts[1] : ""
            while path.hasSuffix("/") { path.removeLast() }
            // A query, a fragment, user info, spaces or control characters make no server
            // address the proxy could send requests to as they are.
            guard !path.contains("?"), !path.contains("#"), !authority.contains("@"),
                  path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
            var host = authority
            var port = isTLS ? 443 : 80
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                host = authority[authority.index(after: authority.startIndex)..<close]
                let tail = authority[authority.index(after: close)...]
                if tail.hasPrefix(":") { guard let p = Int(tail.dropFirst()) else { return nil }; port = p }
            } else if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
                port = p
            }
            guard !host.isEmpty, (1...65535).contains(port) else { return nil }
            self.host = String(host)
            self.port = port
            self.authority = String(authority)
            self.pathPrefix = path
            if isTLS {
                var configuration = tls ?? TLSConfiguration.makeClientConfiguration()
                configuration.applicationProtocols = ["h2", "http/1.1"]
                guard let context = try? NIOSSLContext(configuration: configuration) else { return nil }
                self.tls = context
            } else {
                self.tls = nil
            }
        }
    }

    public let endpoint: Endpoint
    let maxIdlePerLoop: Int
    let idleTimeout: TimeAmount
    let pools = NIOLockedValueBox<[ObjectIdentifier: LoopPool]>([:])

    public init(endpoint: Endpoint, maxIdlePerLoop: Int = 128, idleTimeout: TimeAmount = .seconds(30)) {
        self.endpoint = endpoint
        self.maxIdlePerLoop = maxIdlePerLoop
        self.idleTimeout = idleTimeout
    }

    /// The pool of `eventLoop`'s connections (made on first use).
    func pool(for eventLoop: any EventLoop) -> LoopPool {
        pools.withLockedValue { pools in
            if let pool = pools[ObjectIdentifier(eventLoop)] { return pool }
            let pool = LoopPool(endpoint: endpoint, eventLoop: eventLoop, maxIdle: maxIdlePerLoop, idleTimeout: idleTimeout)
            pools[ObjectIdentifier(eventLoop)] = pool
            return pool
        }
    }

    /// A connection owned by `eventLoop` (call on that loop): an idle one, or a new one.
    public func connection(on eventLoop: any EventLoop) -> EventLoopFuture<UpstreamConnection> {
        pool(for: eventLoop).connection()
    }

    /// An idle HTTP/1.1 connection of `eventLoop` ready now, if any (call on that loop).
    public func idleConnection(on eventLoop: any EventLoop) -> UpstreamConnection? {
        pool(for: eventLoop).idleConnection()
    }

    /// Connections opened so far, over every loop.
    public var connectionsOpened: Int {
        let all = pools.withLockedValue { Array($0.values) }
        return all.reduce(0) { $0 + $1.opened.withLockedValue { $0 } }
    }
}

/// One event loop's connections. Touched on that loop only; the count of connections opened
/// is read from anywhere.
final class LoopPool: @unchecked Sendable {
    let endpoint: UpstreamPool.Endpoint
    let eventLoop: any EventLoop
    let maxIdle: Int
    let idleTimeout: TimeAmount
    var idle: [UpstreamConnection] = []
    let opened = NIOLockedValueBox(0)

    init(endpoint: UpstreamPool.Endpoint, eventLoop: any EventLoop, maxIdle: Int, idleTimeout: TimeAmount) {
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    /// The loop's HTTP/2 connection, once one is up (nil again when it closes).
    var multiplexer: HTTP2StreamMultiplexer?
    /// A TLS connection being set up, whose protocol the handshake has not told yet.
    var negotiating: EventLoopFuture<Negotiated>?
    /// The server chose http/1.1 when offered h2: pool HTTP/1.1 connections from now on.
    var speaksHTTP1 = false

    enum Negotiated {
        case http2(HTTP2StreamMultiplexer)
        case http1(UpstreamConnection)
    }

    func connection() -> EventLoopFuture<UpstreamConnection> {
        eventLoop.assertInEventLoop()
        if endpoint.tls == nil || speaksHTTP1 { return http1Connection() }
        if let multiplexer { return openStream(multiplexer) }
        let negotiated = negotiating ?? connectTLS()
        negotiating = negotiated
        return negotiated.flatMap { result in
            self.negotiating = nil
            switch result {
            case .http2(let multiplexer): return self.openStream(multiplexer)
            case .http1(let connection) where !connection.taken:
                connection.taken = true
                return self.eventLoop.makeSucceededFuture(connection)
            case .http1: return self.http1Connection()
            }
        }
    }

    /// An idle HTTP/1.1 connection, taken at once (no future, no callback), if there is one.
    func idleConnection() -> UpstreamConnection? {
        eventLoop.assertInEventLoop()
        while let connection = idle.popLast() {
            connection.deadline.clear()
            if connection.channel.isActive {
                connection.reused = true
                return connection
            }
        }
        return nil
    }

    /// An idle HTTP/1.1 connection, or a new one.
    func http1Connection() -> EventLoopFuture<UpstreamConnection> {
        if let connection = idleConnection() { return eventLoop.makeSucceededFuture(connection) }
        opened.withLockedValue { $0 += 1 }
        let endpoint = self.endpoint
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = endpoint.tls { try channel.pipeline.syncOperations.addHandler(try LoopPool.tlsHandler(tls, endpoint)) }
                    try LoopPool.addHTTP1Handlers(channel)
                }
            }
        return bootstrap.connect(host: endpoint.host, port: endpoint.port).flatMapThrowing { channel in
            try self.adopt(channel)
        }
    }

    static func tlsHandler(_ context: NIOSSLContext, _ endpoint: UpstreamPool.Endpoint) throws -> NIOSSLClientHandler {
        // An IP address is matched against the certificate's IP SANs, never sent as SNI.
        let isAddress = endpoint.host.contains(":") || endpoint.host.allSatisfy { $0.isNumber || $0 == "." }
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : endpoint.host)
    }

    static func addHTTP1Handlers(_ channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(UpstreamConnectionHandler())
    }

    /// The `UpstreamConnection` of a channel whose HTTP/1.1 handlers are in place.
    func adopt(_ channel: any Channel, stream: Bool = false) throws -> UpstreamConnection {
        let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
        let connection = UpstreamConnection(channel: channel, pool: self, authority: endpoint.authority,
                                            pathPrefix: endpoint.pathPrefix, isStream: stream)
        handler.connection = connection
        return connection
    }

    /// A TLS connection; its handshake decides between HTTP/2 and HTTP/1.1.
    func connectTLS() -> EventLoopFuture<Negotiated> {
        opened.withLockedValue { $0 += 1 }
        let endpoint = self.endpoint
        let protocolPromise = eventLoop.makePromise(of: Bool.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let tls = endpoint.tls else { return }
                    try channel.pipeline.syncOperations.addHandler(try LoopPool.tlsHandler(tls, endpoint))
                    try channel.pipeline.syncOperations.addHandler(ApplicationProtocolNegotiationHandler { result, channel in
                        if case .negotiated("h2") = result {
                            protocolPromise.succeed(true)
                            return channel.eventLoop.makeSucceededVoidFuture()
                        }
                        protocolPromise.succeed(false)
                        return channel.eventLoop.makeCompletedFuture { try LoopPool.addHTTP1Handlers(channel) }
                    })
                }
            }
        let connected = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        connected.whenFailure { protocolPromise.fail($0) }
        return connected.and(protocolPromise.futureResult).flatMap { channel, http2 in
            guard http2 else {
                self.speaksHTTP1 = true
                return self.eventLoop.makeCompletedFuture { .http1(try self.adopt(channel)) }
            }
            return channel.configureHTTP2Pipeline(mode: .client, targetWindowSize: 1 << 20, inboundStreamInitializer: nil).map { multiplexer in
                self.multiplexer = multiplexer
                channel.closeFuture.whenComplete { _ in
                    self.eventLoop.assertInEventLoop()
                    if self.multiplexer === multiplexer { self.multiplexer = nil }
                }
                return .http2(multiplexer)
            }
        }
    }

    /// A new stream of the loop's HTTP/2 connection, speaking HTTP/1.1 parts like the others.
    func openStream(_ multiplexer: HTTP2StreamMultiplexer) -> EventLoopFuture<UpstreamConnection> {
        let promise = eventLoop.makePromise(of: (any Channel).self)
        multiplexer.createStreamChannel(promise: promise) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
                try stream.pipeline.syncOperations.addHandler(UpstreamConnectionHandler())
            }
        }
        return promise.futureResult.flatMapThrowing { stream in try self.adopt(stream, stream: true) }
    }

    /// Keeps a connection whose response ended for the next request, up to `maxIdle`.
    func release(_ connection: UpstreamConnection) {
        eventLoop.assertInEventLoop()
        // A stream is done when its response ends; the connection under it stays.
        if connection.isStream { return }
        guard connection.channel.isActive, idle.count < maxIdle else { return connection.close() }
        connection.idle(for: idleTimeout)
        idle.append(connection)
    }

    /// A connection closed: it is no longer offered.
    func closed(_ connection: UpstreamConnection) {
        idle.removeAll { $0 === connection }
    }
}
