import NIOCore
import NIOHTTP1

/// What an exchange hears of its request's response. Every call arrives on the connection's
/// event loop; after `upstreamEnd` or `upstreamFailed` nothing more arrives.
public protocol UpstreamResponseDelegate: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    func upstreamBody(_ buffer: ByteBuffer)
    /// A read of the socket ended: bytes delivered since the last call may be flushed.
    func upstreamReadComplete()
    func upstreamEnd()
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: any Error)
    /// No response head within the deadline `send` was given (the connection is closed).
    func upstreamTimedOut()
}

/// One HTTP/1.1 connection of an `UpstreamPool`, carrying one request at a time. Used on its
/// event loop only.
public final class UpstreamConnection {
    public struct Closed: Error, CustomStringConvertible {
        public var description: String { "the upstream connection closed before the response ended" }
    }

    let channel: any Channel
    unowned let pool: LoopPool
    let authority: String
    let pathPrefix: String
    /// Whether this connection carried a request before (a server may close an idle
    /// connection as the next request goes out: such a failure may be retried).
    public internal(set) var reused = false
    /// While idle: when the pool drops the connection. While a request waits: when its
    /// response head is due.
    var deadline = LazyDeadline()
    var delegate: (any UpstreamResponseDelegate)?
    /// The request and response said the connection may carry another request (an HTTP/2
    /// head never says so; a stream is not reused anyway).
    var keepAlive = true
    var paused = false

    /// A stream of an HTTP/2 connection: used once, never pooled.
    let isStream: Bool
    /// Handed to an exchange already (a connection made while another request waited for the
    /// same handshake is handed out once).
    var taken = false

    init(channel: any Channel, pool: LoopPool, authority: String, pathPrefix: String, isStream: Bool) {
        self.pathPrefix = pathPrefix
        self.channel = channel
        self.isStream = isStream
        self.pool = pool
        self.authority = authority
    }

    /// Sends a request head (Host set to the upstream's authority, the target under its path
    /// prefix); its body follows with `writeBody` and `endRequest`. The response goes to
    /// `delegate`; its head is due within `headTimeout`.
    public func send(_ head: HTTPRequestHead, delegate: any UpstreamResponseDelegate, headTimeout: TimeAmount) {
        self.delegate = delegate
        keepAlive = head.isKeepAlive
        deadline.move(to: .now() + headTimeout, schedule: schedule)
        var head = head
        head.headers.replaceOrAdd(name: "host", value: authority)
        if !pathPrefix.isEmpty { head.uri = pathPrefix + head.uri }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
    }

    public func writeBody(_ buffer: ByteBuffer) {
        channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
    }

    public func endRequest() {
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Stops reading the response (the client is not taking it) or reads on.
    public func setReading(_ reading: Bool) {
        guard paused == reading else { return }
        paused = !reading
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: reading)
    }

    /// The response ended and was consumed: the connection serves the next request, or
    /// closes when it may not. A stream of an HTTP/2 connection is left to close by itself:
    /// both of its ends are sent, and closing it from here, while its last frame is still
    /// being read, would reset it (RST_STREAM), which a server counts against the connection
    /// (NIO's allows 200 resets in 30 s, then sends GOAWAY).
    public func release() {
        delegate = nil
        setReading(true)
        if isStream || keepAlive { pool.release(self) } else { close() }
    }

    /// Drops the connection (a response abandoned half way cannot be resumed).
    public func close() {
        delegate = nil
        channel.close(promise: nil)
    }

    // MARK: From the handler

    func received(_ part: HTTPClientResponsePart) {
        guard let delegate else {
            // Bytes on an idle connection: nothing asked for them.
            return close()
        }
        switch part {
        case .head(let head):
            deadline.clear()
            if !head.isKeepAlive { keepAlive = false }
            delegate.upstreamHead(head)
        case .body(let buffer):
            delegate.upstreamBody(buffer)
        case .end:
            self.delegate = nil
            delegate.upstreamEnd()
        }
    }

    func readComplete() {
        delegate?.upstreamReadComplete()
    }

    /// Idle from now: closed by the pool's idle timeout unless a request takes it first.
    func idle(for timeout: TimeAmount) {
        deadline.move(to: .now() + timeout, schedule: schedule)
    }

    func schedule(_ due: NIODeadline) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(deadline: due) { [weak self] in
            guard let self, self.deadline.fired(schedule: self.schedule) else { return }
            let delegate = self.delegate
            self.close()
            delegate?.upstreamTimedOut()
        }
    }

    func failed(_ error: any Error) {
        deadline.cancel()
        pool.closed(self)
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(error)
    }
}

/// Passes one connection's response parts to its `UpstreamConnection`.
final class UpstreamConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    var connection: UpstreamConnection?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection?.received(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection?.readComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.failed(UpstreamConnection.Closed())
        connection = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection?.failed(error)
        context.close(promise: nil)
    }
}
