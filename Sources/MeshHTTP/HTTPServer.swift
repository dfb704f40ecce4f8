import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A server for HTTP/1.1 and HTTP/2: cleartext (h2c by prior knowledge, sniffed per
/// connection) or TLS with ALPN choosing h2 or http/1.1. Every request reaches one responder.
/// Every connection is held to the listener's `ConnectionLimits`.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: NIOSSLContext?
        /// A TLS context that can be replaced while serving (certificate rotation); wins over `tls`.
        public var reloadableTLS: ReloadableTLSContext?
        public var maxBodyBytes: Int
        /// Run each responder on its connection's event loop. Only for responders that never
        /// block a thread (the proxy); the API server's SQLite writes would stall the loop.
        public var respondOnEventLoop: Bool
        public var limits: ConnectionLimits
        /// Takes the requests it can serve on the event loop (the proxy's data path).
        public var inlineRouter: (any InlineRouter)?

        public init(host: String, port: Int, tls: NIOSSLContext? = nil, maxBodyBytes: Int = 3 * 1024 * 1024,
                    respondOnEventLoop: Bool = false, limits: ConnectionLimits = ConnectionLimits(),
                    inlineRouter: (any InlineRouter)? = nil) {
            self.inlineRouter = inlineRouter
            self.host = host
            self.port = port
            self.tls = tls
            self.maxBodyBytes = maxBodyBytes
            self.respondOnEventLoop = respondOnEventLoop
            self.limits = limits
        }
    }

    let channel: any Channel
    public let port: Int

    init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    public static func start(_ configuration: Configuration, responder: any HTTPResponder,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> HTTPServer {
        let maxBody = configuration.maxBodyBytes
        let onLoop = configuration.respondOnEventLoop
        let tls = configuration.tls
        let reloadable = configuration.reloadableTLS
        let limits = configuration.limits
        let count = ConnectionCount(limit: limits.maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // Over the cap: closed at once, so the listener keeps accepting (and dropping)
                // rather than running out of descriptors.
                guard count.admit(channel) else { return channel.close() }
                let guardHandler = ConnectionGuard(limits: limits, eventLoop: channel.eventLoop)
                let http = HTTPConfigurator(responder: responder, router: configuration.inlineRouter, maxBody: maxBody, onLoop: onLoop, connectionGuard: guardHandler)
                do {
                    try channel.pipeline.syncOperations.addHandler(guardHandler)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                // A replaceable context is read per connection: a rotated certificate serves
                // every connection opened after the swap.
                if let tls = reloadable?.current ?? tls {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }.flatMap {
                        channel.configureHTTP2SecureUpgrade(h2ChannelConfigurator: http.http2, http1ChannelConfigurator: http.http1)
                    }
                }
                let sniffer = ProtocolSniffer { channel, http2 in http2 ? http.http2(channel) : http.http1(channel) }
                return channel.pipeline.addHandler(sniffer)
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        return HTTPServer(channel: channel, port: channel.localAddress?.port ?? configuration.port)
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Sets up the HTTP/1.1 or HTTP/2 pipeline of one accepted connection.
struct HTTPConfigurator: @unchecked Sendable {
    let responder: any HTTPResponder
    let router: (any InlineRouter)?
    let maxBody: Int
    let onLoop: Bool
    /// Used on the connection's event loop only.
    let connectionGuard: ConnectionGuard

    func http1(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
            channel.pipeline.addHandler(RequestHandler(responder: responder, router: router, maxBodyBytes: maxBody, isHTTP2: false, onLoop: onLoop,
                                                       connectionGuard: connectionGuard))
        }
    }

    func http2(_ channel: any Channel) -> EventLoopFuture<Void> {
        connectionGuard.isHTTP2()
        return channel.configureHTTP2Pipeline(mode: .server, initialLocalSettings: [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 20),
        ]) { stream in
            stream.pipeline.addHandlers([
                HTTP2FramePayloadToHTTP1ServerCodec(),
                RequestHandler(responder: responder, router: router, maxBodyBytes: maxBody, isHTTP2: true, onLoop: onLoop, connectionGuard: connectionGuard),
            ])
        }.map { _ in }
    }
}
