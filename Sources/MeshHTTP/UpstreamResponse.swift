import NIOCore
import NIOHTTP1

/// An upstream answer as async code reads it: the head, then the body as it arrives. Reading
/// paces the connection (nothing more is read while the reader holds back); a reader that
/// stops before the end drops the connection, and one that reads to the end gives it back to
/// the pool.
public struct UpstreamResponse: Sendable {
    public let head: HTTPResponseHead
    public let body: Body

    public var status: HTTPResponseStatus { head.status }
    public var headers: HTTPHeaders { head.headers }

    public typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, AsyncUpstreamRequest
    >

    /// The body's parts in order; the sequence can be iterated once.
    public struct Body: AsyncSequence, Sendable {
        public typealias Element = ByteBuffer
        let parts: Producer

        public func makeAsyncIterator() -> Producer.AsyncIterator { parts.makeAsyncIterator() }

        /// The whole body; throws `TooLarge` past `limit` bytes (the connection is dropped).
        public func collect(upTo limit: Int) async throws -> ByteBuffer {
            var whole = ByteBuffer()
            for try await var part in self {
                guard whole.readableBytes + part.readableBytes <= limit else { throw TooLarge(limit: limit) }
                whole.writeBuffer(&part)
            }
            return whole
        }
    }

    public struct TooLarge: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "the API server's answer is larger than \(limit) bytes" }
    }

    /// The head did not arrive in time (the connection, its handshake included, counts).
    public struct TimedOut: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "the API server did not answer in time" }
    }
}

extension UpstreamPool {
    /// Sends one request from async code over a connection of `eventLoop`'s pool, the same
    /// connections the event-loop exchanges of that loop use, and returns once the answer's
    /// head is in (within `headTimeout`, connecting included). A GET that fails on a reused
    /// connection before any answer is sent once more on a new one. Cancelling the task drops
    /// the request.
    public func send(_ head: HTTPRequestHead, body: ByteBuffer?, on eventLoop: any EventLoop,
                     headTimeout: TimeAmount) async throws -> UpstreamResponse {
        let request = AsyncUpstreamRequest(pool: self, eventLoop: eventLoop, head: head, body: body, headTimeout: headTimeout)
        return try await withTaskCancellationHandler {
            try await eventLoop.flatSubmit { request.start() }.get()
        } onCancel: {
            request.cancel()
        }
    }
}

/// One request of `UpstreamPool.send`, and the producer of its response body. Its state is
/// touched only on `eventLoop`: the calls that come from elsewhere (`produceMore`,
/// `didTerminate`, `cancel`) hop there first.
public final class AsyncUpstreamRequest: UpstreamResponseDelegate, NIOAsyncSequenceProducerDelegate, @unchecked Sendable {
    let pool: UpstreamPool
    let eventLoop: any EventLoop
    let head: HTTPRequestHead
    let body: ByteBuffer?
    let headTimeout: TimeAmount
    let answered: EventLoopPromise<UpstreamResponse>
    var attempt: UpstreamAttempt
    var connection: UpstreamConnection?
    var source: UpstreamResponse.Producer.Source?
    var connectDeadline: Scheduled<Void>?

    init(pool: UpstreamPool, eventLoop: any EventLoop, head: HTTPRequestHead, body: ByteBuffer?, headTimeout: TimeAmount) {
        self.pool = pool
        self.eventLoop = eventLoop
        self.head = head
        self.body = body
        self.headTimeout = headTimeout
        attempt = UpstreamAttempt(method: head.method)
        answered = eventLoop.makePromise()
    }

    func start() -> EventLoopFuture<UpstreamResponse> {
        connect()
        return answered.futureResult
    }

    func connect() {
        if let connection = pool.idleConnection(on: eventLoop) { return connected(connection) }
        connectDeadline = eventLoop.scheduleTask(in: headTimeout) { [self] in upstreamTimedOut() }
        pool.connection(on: eventLoop).whenComplete { [self] result in
            switch result {
            case .success(let connection): connected(connection)
            case .failure(let error): failedBeforeAnswer(error)
            }
        }
    }

    func connected(_ connection: UpstreamConnection) {
        guard attempt.phase == .connecting else { return connection.release() }
        connectDeadline?.cancel()
        connectDeadline = nil
        self.connection = connection
        attempt.sent()
        var head = head
        if let body { head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes)) }
        connection.send(head, delegate: self, headTimeout: headTimeout)
        if let body, body.readableBytes > 0 { connection.writeBody(body) }
        connection.endRequest()
    }

    /// The task gave up waiting for the head.
    func cancel() {
        eventLoop.execute { [self] in
            guard attempt.awaitingAnswer else { return }
            drop()
            answered.fail(CancellationError())
        }
    }

    func drop() {
        attempt.finished()
        connectDeadline?.cancel()
        connection?.close()
        connection = nil
    }

    // MARK: UpstreamResponseDelegate

    public func upstreamHead(_ response: HTTPResponseHead) {
        guard attempt.phase == .sent else { return }
        attempt.answering()
        let made = UpstreamResponse.Producer.makeSequence(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8),
                                                          finishOnDeinit: true, delegate: self)
        source = made.source
        answered.succeed(UpstreamResponse(head: response, body: .init(parts: made.sequence)))
    }

    public func upstreamBody(_ buffer: ByteBuffer) {
        guard attempt.phase == .streaming, let source else { return }
        switch source.yield(buffer) {
        case .produceMore: break
        case .stopProducing: connection?.setReading(false)
        case .dropped: drop()
        }
    }

    public func upstreamReadComplete() {}

    public func upstreamEnd() {
        guard attempt.phase == .streaming else { return }
        attempt.finished()
        connection?.release()
        connection = nil
        source?.finish()
    }

    public func upstreamFailed(_ error: any Error) {
        let reused = connection?.reused ?? false
        connection = nil
        switch attempt.failed(error, reused: reused) {
        case .ignored: return
        case .retry: connect()
        case .beforeAnswer: failedBeforeAnswer(error)
        case .midAnswer:
            attempt.finished()
            source?.finish(error)
        }
    }

    func failedBeforeAnswer(_ error: any Error) {
        guard attempt.awaitingAnswer else { return }
        drop()
        answered.fail(error)
    }

    public func upstreamTimedOut() {
        guard attempt.awaitingAnswer else { return }
        drop()
        answered.fail(UpstreamResponse.TimedOut())
    }

    // MARK: NIOAsyncSequenceProducerDelegate

    public func produceMore() {
        eventLoop.execute { [self] in connection?.setReading(true) }
    }

    /// The reader is gone: a response it did not read to the end cannot be resumed.
    public func didTerminate() {
        eventLoop.execute { [self] in
            guard attempt.phase == .streaming else { return }
            drop()
        }
    }
}
