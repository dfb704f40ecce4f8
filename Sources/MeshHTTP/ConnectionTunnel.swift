import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where an upgraded connection (exec, attach, port-forward: SPDY or WebSocket) is carried.
public struct TunnelTarget: Sendable {
    public var host: String
    public var port: Int
    public var tls: NIOSSLContext?
    /// SNI and certificate name; nil for an IP address.
    public var serverHostname: String?

    public init(host: String, port: Int, tls: NIOSSLContext?, serverHostname: String?) {
        self.host = host
        self.port = port
        self.tls = tls
        self.serverHostname = serverHostname
    }
}

extension ResponseWriter {
    /// Turns this HTTP/1.1 connection into a byte tunnel to `target`: connects, sends
    /// `requestHead` (the upgrade request as the upstream must see it), removes the HTTP codec
    /// from the client's connection and then copies bytes both ways. The upstream's answer
    /// (101 Switching Protocols, or an error) reaches the client unchanged. The tunnel lives
    /// until either side closes.
    public func tunnel(to target: TunnelTarget, requestHead: ByteBuffer) async throws {
        let downstream = channel
        let upstream = try await ClientBootstrap(group: downstream.eventLoop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = target.tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls, serverHostname: target.serverHostname))
                    }
                }
            }
            .connect(host: target.host, port: target.port).get()
        state.withLockedValue { $0.headSent = true; $0.ended = true }
        try await downstream.eventLoop.submit {
            let client = downstream.pipeline.syncOperations
            // The client's side stops speaking HTTP: drop the codec and the request handler.
            try? client.removeHandler(context: client.context(handlerType: HTTPServerProtocolErrorHandler.self), promise: nil)
            try? client.removeHandler(context: client.context(handlerType: HTTPServerPipelineHandler.self), promise: nil)
            try? client.removeHandler(context: client.context(handlerType: NIOHTTPResponseHeadersValidator.self), promise: nil)
            try? client.removeHandler(context: client.context(handlerType: HTTPResponseEncoder.self), promise: nil)
            try? client.removeHandler(context: client.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
            try? client.removeHandler(context: client.context(handlerType: RequestHandler.self), promise: nil)
            // A tunnel is idle or busy as its session is: no request deadlines apply to it.
            try? client.removeHandler(context: client.context(handlerType: ConnectionGuard.self), promise: nil)
            let (clientEnd, serverEnd) = TunnelHandler.pair()
            try client.addHandler(clientEnd)
            try upstream.pipeline.syncOperations.addHandler(serverEnd)
        }.get()
        try await upstream.writeAndFlush(requestHead).get()
    }
}

/// One end of a tunnel: what one channel reads, the other writes. Both channels share an event
/// loop, so the ends call each other directly. A channel that stops taking writes stops its
/// partner reading, so a slow side holds back the fast one instead of buffering.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var partner: TunnelHandler?
    var context: ChannelHandlerContext?
    var pendingRead = false

    static func pair() -> (TunnelHandler, TunnelHandler) {
        let a = TunnelHandler()
        let b = TunnelHandler()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let partnerContext = partner?.context, partner?.pendingRead == true {
            partner?.pendingRead = false
            partnerContext.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partnerContext = partner?.context, !partnerContext.channel.isWritable {
            pendingRead = true
            return
        }
        context.read()
    }
}
