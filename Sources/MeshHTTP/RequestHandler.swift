import NIOCore
import NIOHTTP1

/// Collects a request (head and a bounded body) and hands it to the responder in a task.
/// The task is cancelled when the connection or stream goes away, which ends watches.
final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        case discarding(HTTPRequestHead)
    }

    let responder: any HTTPResponder
    let maxBodyBytes: Int
    let isHTTP2: Bool
    let onLoop: Bool
    var executor: EventLoopTaskExecutor?
    var state = State.idle
    var task: Task<Void, Never>?
    /// Numbers requests, so a finished task clears only its own slot (the next request may
    /// already have started: the pipeline lets it in as soon as the response end is written).
    var requestNumber = 0

    init(responder: any HTTPResponder, maxBodyBytes: Int, isHTTP2: Bool, onLoop: Bool) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
        self.isHTTP2 = isHTTP2
        self.onLoop = onLoop
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                state = .discarding(head)
            } else {
                state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
            }
        case .body(var chunk):
            switch state {
            case .receiving(let head, var body):
                if body.readableBytes + chunk.readableBytes > maxBodyBytes {
                    state = .discarding(head)
                } else {
                    state = .idle  // drop the reference so the buffer grows in place
                    body.writeBuffer(&chunk)
                    state = .receiving(head, body)
                }
            default:
                break
            }
        case .end:
            let request: ServerRequest
            let keepAlive: Bool
            switch state {
            case .receiving(let head, let body):
                request = ServerRequest(method: head.method, uri: head.uri, headers: head.headers, body: body, isHTTP2: isHTTP2)
                keepAlive = isHTTP2 || head.isKeepAlive
            case .discarding(let head):
                // The rest of an oversized body is never read: answer, then close.
                request = ServerRequest(method: head.method, uri: head.uri, headers: head.headers, bodyTooLarge: true, isHTTP2: isHTTP2)
                keepAlive = false
            default:
                return
            }
            state = .idle
            requestNumber += 1
            let number = requestNumber
            let writer = ResponseWriter(channel: context.channel, keepAlive: keepAlive, closeAfterResponse: false)
            let responder = self.responder
            let eventLoop = context.eventLoop
            let done = { [weak self] in
                eventLoop.assertInEventLoop()
                if self?.requestNumber == number { self?.task = nil }
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
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
