import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A server for HTTP/1.1 and HTTP/2: cleartext (h2c by prior knowledge, sniffed per
/// connection) or TLS with ALPN choosing h2 or http/1.1. Every request reaches one responder.
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

        public init(host: String, port: Int, tls: NIOSSLContext? = nil, maxBodyBytes: Int = 3 * 1024 * 1024,
                    respondOnEventLoop: Bool = false) {
            self.host = host
            self.port = port
            self.tls = tls
            self.maxBodyBytes = maxBodyBytes
            self.respondOnEventLoop = respondOnEventLoop
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
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // A replaceable context is read per connection: a rotated certificate serves
                // every connection opened after the swap.
                if let tls = reloadable?.current ?? tls {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }.flatMap {
                        channel.configureHTTP2SecureUpgrade(
                            h2ChannelConfigurator: { configureHTTP2($0, responder: responder, maxBody: maxBody, onLoop: onLoop) },
                            http1ChannelConfigurator: { configureHTTP1($0, responder: responder, maxBody: maxBody, onLoop: onLoop) })
                    }
                }
                let sniffer = ProtocolSniffer { channel, http2 in
                    http2 ? configureHTTP2(channel, responder: responder, maxBody: maxBody, onLoop: onLoop)
                          : configureHTTP1(channel, responder: responder, maxBody: maxBody, onLoop: onLoop)
                }
                return channel.pipeline.addHandler(sniffer)
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        return HTTPServer(channel: channel, port: channel.localAddress?.port ?? configuration.port)
    }

    static func configureHTTP1(_ channel: any Channel, responder: any HTTPResponder, maxBody: Int, onLoop: Bool) -> EventLoopFuture<Void> {
        channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
            channel.pipeline.addHandler(RequestHandler(responder: responder, maxBodyBytes: maxBody, isHTTP2: false, onLoop: onLoop))
        }
    }

    static func configureHTTP2(_ channel: any Channel, responder: any HTTPResponder, maxBody: Int, onLoop: Bool) -> EventLoopFuture<Void> {
        channel.configureHTTP2Pipeline(mode: .server, initialLocalSettings: [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 20),
        ]) { stream in
            stream.pipeline.addHandlers([
                HTTP2FramePayloadToHTTP1ServerCodec(),
                RequestHandler(responder: responder, maxBodyBytes: maxBody, isHTTP2: true, onLoop: onLoop),
            ])
        }.map { _ in }
    }

    public func close() async {
        try? await channel.close()
    }
}
