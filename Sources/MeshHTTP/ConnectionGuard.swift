import NIOConcurrencyHelpers
import NIOCore

/// The first handler of every accepted connection: it enforces `ConnectionLimits` (the
/// connection cap, and the deadlines `ConnectionTimeouts` sets) by closing the connection.
/// The request handlers tell it when requests start and finish. Everything it does runs on
/// the connection's event loop.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let eventLoop: any EventLoop
    var timeouts: ConnectionTimeouts
    var deadline = LazyDeadline()
    weak var channel: (any Channel)?

    init(limits: ConnectionLimits, eventLoop: any EventLoop) {
        self.timeouts = ConnectionTimeouts(limits: limits)
        self.eventLoop = eventLoop
    }

    var limits: ConnectionLimits { timeouts.limits }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
        apply(timeouts.accepted())
    }

    /// Removed when the connection becomes a tunnel (exec, port-forward): from then on it
    /// enforces nothing.
    func handlerRemoved(context: ChannelHandlerContext) {
        deadline.cancel()
        channel = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let deadline = timeouts.bytesArrived() { apply(deadline) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.cancel()
        context.fireChannelInactive()
    }

    /// The connection speaks HTTP/2: its frames do not start requests, its streams do.
    func isHTTP2() {
        eventLoop.assertInEventLoop()
        timeouts.http2 = true
    }

    func requestStarted() {
        eventLoop.assertInEventLoop()
        apply(timeouts.requestStarted())
    }

    func requestFinished() {
        eventLoop.assertInEventLoop()
        if let deadline = timeouts.requestFinished() { apply(deadline) }
    }

    func apply(_ next: ConnectionTimeouts.Deadline) {
        guard channel != nil, case .after(let delay) = next else {
            return deadline.clear()
        }
        deadline.move(to: .now() + delay, schedule: schedule)
    }

    func schedule(_ due: NIODeadline) -> Scheduled<Void> {
        eventLoop.scheduleTask(deadline: due) { [weak self] in
            guard let self else { return }
            if self.deadline.fired(schedule: self.schedule) { self.channel?.close(promise: nil) }
        }
    }
}

/// Open connections of one listener, against its cap.
public final class ConnectionCount: Sendable {
    let open = NIOLockedValueBox(0)
    let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new connection; false when the listener is full (the caller closes it).
    public func admit(_ channel: any Channel) -> Bool {
        let admitted = open.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [self] _ in open.withLockedValue { $0 -= 1 } }
        }
        return admitted
    }
}

/// `ConnectionLimits` for a listener whose protocol stack is not ours (the manager's gRPC
/// server): its accept hook caps the connections and closes one that opens no stream within
/// `headerTimeout` (a client stuck in its TLS handshake or HTTP/2 preface); its stream hook
/// lifts that deadline. Idle connections are the transport's to close.
public final class ListenerAdmission: Sendable {
    let limits: ConnectionLimits
    let count: ConnectionCount

    public init(limits: ConnectionLimits) {
        self.limits = limits
        self.count = ConnectionCount(limit: limits.maxConnections)
    }

    public func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        guard count.admit(channel) else { return channel.close() }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstStreamDeadline(after: limits.headerTimeout), position: .first)
        }
    }

    public func streamOpened(_ stream: any Channel) -> EventLoopFuture<Void> {
        guard let connection = stream.parent else { return stream.eventLoop.makeSucceededVoidFuture() }
        return connection.eventLoop.submit {
            let pipeline = connection.pipeline.syncOperations
            if let context = try? pipeline.context(handlerType: FirstStreamDeadline.self) {
                pipeline.removeHandler(context: context, promise: nil)
            }
        }
    }
}

/// Closes its connection when it fires; removed (and cancelled) once a stream opens.
final class FirstStreamDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let delay: TimeAmount
    var timer: Scheduled<Void>?

    init(after delay: TimeAmount) {
        self.delay = delay
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
