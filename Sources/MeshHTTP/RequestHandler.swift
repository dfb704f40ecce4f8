import NIOCore
import NIOHTTP1

/// Offers each request head to the inline router first (served on the event loop, part by
/// part); any other request is collected (head and a bounded body) and handed to the
/// responder in a task. The task is cancelled when the connection or stream goes away, which
/// ends watches.
/// A request whose head (HTTP/2 stream) or body does not arrive in time closes its stream or
/// connection; the connection's `ConnectionGuard` learns when requests start and finish.
final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// An oversized body, answered already, read and dropped until it ends.
        case discarding(drained: Int)
        /// Served on the loop by an exchange; `received` body bytes so far.
        case inline(any InlineExchange, received: Int)
    }

    let responder: any HTTPResponder
    let router: (any InlineRouter)?
    let maxBodyBytes: Int
    let isHTTP2: Bool
    let onLoop: Bool
    let connectionGuard: ConnectionGuard
    var executor: EventLoopTaskExecutor?
    var state = State.idle
    var task: Task<Void, Never>?
    /// The head (HTTP/2) or body still to arrive in time.
    var deadline = LazyDeadline()
    weak var channel: (any Channel)?
    /// An HTTP/2 stream counts as one request from its opening to its closing.
    var streamCounted = false
    /// Numbers requests, so a finished task clears only its own slot (the next request may
    /// already have started: the pipeline lets it in as soon as the response end is written).
    var requestNumber = 0

    /// The inline exchange still answering (its request may have ended already).
    var exchange: (any InlineExchange)?
    /// What the router made of the request being collected, for the responder.
    var routed: (any Sendable)?

    init(responder: any HTTPResponder, router: (any InlineRouter)?, maxBodyBytes: Int, isHTTP2: Bool, onLoop: Bool,
         connectionGuard: ConnectionGuard) {
        self.responder = responder
        self.router = router
        self.maxBodyBytes = maxBodyBytes
        self.isHTTP2 = isHTTP2
        self.onLoop = onLoop
        self.connectionGuard = connectionGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard isHTTP2 else { return }
        streamCounted = true
        connectionGuard.requestStarted()
        arm(connectionGuard.limits.headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline.cancel()
        if streamCounted {
            streamCounted = false
            connectionGuard.requestFinished()
        }
    }

    /// Closes the stream (HTTP/2) or connection unless `disarm` comes first.
    func arm(_ delay: TimeAmount, context: ChannelHandlerContext) {
        channel = context.channel
        deadline.move(to: .now() + delay, schedule: scheduler(context.eventLoop))
    }

    func disarm() {
        deadline.clear()
    }

    func scheduler(_ eventLoop: any EventLoop) -> (NIODeadline) -> Scheduled<Void> {
        { [weak self] due in
            eventLoop.scheduleTask(deadline: due) { self?.deadlineFired(eventLoop) }
        }
    }

    func deadlineFired(_ eventLoop: any EventLoop) {
        if deadline.fired(schedule: scheduler(eventLoop)) { channel?.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if !isHTTP2 { connectionGuard.requestStarted() }
            arm(connectionGuard.limits.bodyTimeout, context: context)
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
            routed = nil
            let length = head.headers.first(name: "content-length").flatMap(Int.init)
            if let length, length > maxBodyBytes {
                refuseOversized(head, context: context)
            } else if let router, head.method != .HEAD, !head.headers.contains(name: "transfer-encoding") {
                startInline(head, router: router, context: context)
            }
        case .body(var chunk):
            switch state {
            case .inline(let exchange, let received):
                // HTTP/1.1 holds a body to its announced length; an HTTP/2 stream may send DATA
                // it never announced, which is bounded here all the same.
                guard received + chunk.readableBytes <= maxBodyBytes else { return context.close(promise: nil) }
                state = .inline(exchange, received: received + chunk.readableBytes)
                exchange.requestBody(chunk)
            case .receiving(let head, var body):
                if body.readableBytes + chunk.readableBytes > maxBodyBytes {
                    refuseOversized(head, context: context)
                } else {
                    state = .idle  // drop the reference so the buffer grows in place
                    body.writeBuffer(&chunk)
                    state = .receiving(head, body)
                }
            case .discarding(let drained):
                // Draining lets the client read the 413 instead of a reset; a body beyond
                // `maxDrainBytes` is not worth it.
                state = .discarding(drained: drained + chunk.readableBytes)
                if drained + chunk.readableBytes > RequestHandler.maxDrainBytes { context.close(promise: nil) }
            case .idle:
                break
            }
        case .end:
            disarm()
            if case .inline(let exchange, _) = state {
                state = .idle
                exchange.requestEnd()
                return
            }
            if case .discarding = state {
                state = .idle
                context.close(promise: nil)
                return
            }
            guard case .receiving(let head, let body) = state else {
                state = .idle
                return
            }
            state = .idle
            var request = ServerRequest(method: head.method, uri: head.uri, headers: head.headers, body: body, isHTTP2: isHTTP2,
                                        eventLoop: context.eventLoop)
            request.routed = routed
            routed = nil
            dispatch(request, keepAlive: isHTTP2 || head.isKeepAlive, context: context)
        }
    }

    /// Bytes of an oversized body read and dropped before the connection is closed instead.
    static let maxDrainBytes = 64 << 20

    /// An oversized body is answered at once (the responder answers 413) and never kept: the
    /// rest is read and dropped, within the body timeout, then the connection closes.
    func refuseOversized(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        state = .discarding(drained: 0)
        let request = ServerRequest(method: head.method, uri: head.uri, headers: head.headers, bodyTooLarge: true, isHTTP2: isHTTP2,
                                    eventLoop: context.eventLoop)
        dispatch(request, keepAlive: false, closeAfterResponse: false, context: context)
    }

    /// Lets the router take the request; it stays collected for the responder otherwise.
    func startInline(_ head: HTTPRequestHead, router: any InlineRouter, context: ChannelHandlerContext) {
        requestNumber += 1
        let number = requestNumber
        let isHTTP2 = self.isHTTP2
        let connectionGuard = self.connectionGuard
        // A HEAD never comes here (its body would have to be dropped); see `channelRead`.
        let downstream = Downstream(context: context, keepAlive: isHTTP2 || head.isKeepAlive,
                                    writeTimeout: connectionGuard.limits.writeTimeout) { [weak self] in
            if self?.requestNumber == number { self?.exchange = nil }
            if !isHTTP2 { connectionGuard.requestFinished() }
        }
        let exchange: any InlineExchange
        switch router.route(head, downstream: downstream) {
        case .serve(let serving):
            exchange = serving
        case .handOver(let routed):
            requestNumber -= 1
            self.routed = routed
            return
        }
        // Finished already (a refusal of a request without a body) or still answering.
        if !downstream.isDone { self.exchange = exchange }
        state = .inline(exchange, received: 0)
    }

    /// Runs the responder for a complete request in a task of its own.
    func dispatch(_ request: ServerRequest, keepAlive: Bool, closeAfterResponse: Bool? = nil, context: ChannelHandlerContext) {
        requestNumber += 1
        let number = requestNumber
        let writer = ResponseWriter(channel: context.channel, keepAlive: keepAlive, closeAfterResponse: closeAfterResponse ?? !keepAlive,
                                    writeTimeout: connectionGuard.limits.writeTimeout, headOnly: request.method == .HEAD)
        let responder = self.responder
        let eventLoop = context.eventLoop
        let isHTTP2 = self.isHTTP2
        let connectionGuard = self.connectionGuard
        let done = { [weak self] in
            eventLoop.assertInEventLoop()
            if self?.requestNumber == number { self?.task = nil }
            if !isHTTP2 { connectionGuard.requestFinished() }
        }
        let loopBound = NIOLoopBound(done, eventLoop: eventLoop)
        let body: @Sendable () async -> Void = {
            await responder.respond(to: request, writer: writer)
            await writer.finish()
            eventLoop.execute { loopBound.value() }
        }
        if onLoop {
            if executor == nil { executor = EventLoopTaskExecutor(eventLoop) }
            task = Task(executorPreference: executor, operation: body)
        } else {
            task = Task(operation: body)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.downstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        exchange?.cancel()
        exchange = nil
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
