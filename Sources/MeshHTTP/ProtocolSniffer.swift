import NIOCore

/// Looks at the first bytes of a cleartext connection: the HTTP/2 connection preface means h2c
/// with prior knowledge, anything else HTTP/1.1. Configures the pipeline, then steps aside.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    let configure: @Sendable (any Channel, _ http2: Bool) -> EventLoopFuture<Void>
    var buffered: ByteBuffer?
    var decided = false

    init(configure: @escaping @Sendable (any Channel, _ http2: Bool) -> EventLoopFuture<Void>) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if decided {
            buffered?.writeBuffer(&incoming)
            return
        }
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let seen = buffered!.readableBytesView
        let n = min(seen.count, Self.preface.count)
        let isPrefacePrefix = seen.prefix(n).elementsEqual(Self.preface.prefix(n))
        if isPrefacePrefix && n < Self.preface.count { return }  // need more bytes to decide
        decided = true
        let http2 = isPrefacePrefix
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        configure(context.channel, http2).whenComplete { result in
            let context = loopBoundContext.value
            switch result {
            case .success:
                let bytes = loopBoundSelf.value.buffered.take()
                if let bytes { context.fireChannelRead(NIOAny(bytes)) }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure:
                context.close(promise: nil)
            }
        }
    }
}
