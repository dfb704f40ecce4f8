import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Writes one response to a channel from any task. Each write waits for the channel to take
/// the bytes, so a slow client slows its writer instead of growing a buffer.
public final class ResponseWriter: Sendable {
    struct State {
        var headSent = false
        var ended = false
    }

    let channel: any Channel
    /// Whether the client may send another request on this connection (else `Connection: close`).
    let keepAlive: Bool
    /// Whether the writer closes the connection once the response is out (the request
    /// handler closes it itself while it still drains an oversized body).
    let closeAfterResponse: Bool
    /// A write the client does not take within this long closes the connection (or stream).
    let writeTimeout: TimeAmount
    /// The answer to a HEAD: the head goes out, the body never does (RFC 9110 §9.3.2).
    let headOnly: Bool
    let state = NIOLockedValueBox(State())

    init(channel: any Channel, keepAlive: Bool, closeAfterResponse: Bool, writeTimeout: TimeAmount = .seconds(60), headOnly: Bool = false) {
        self.channel = channel
        self.keepAlive = keepAlive
        self.closeAfterResponse = closeAfterResponse
        self.writeTimeout = writeTimeout
        self.headOnly = headOnly
    }

    /// Writes and flushes one part, waiting until the client takes it; a client that stops
    /// reading is dropped after `writeTimeout` instead of holding its writer forever.
    func send(_ part: HTTPServerResponsePart) async throws {
        let channel = self.channel
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(part, promise: promise)
        let written = promise.futureResult
        let stall = channel.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
        written.whenComplete { _ in stall.cancel() }
        try await written.get()
    }

    public var allocator: ByteBufferAllocator { channel.allocator }

    /// Whether the head went out (after that the status can no longer change).
    public var headSent: Bool { state.withLockedValue { $0.headSent } }

    /// Sends status and headers; the body follows with `writeBody` and `end`.
    public func writeHead(status: HTTPResponseStatus, headers: HTTPHeaders) async throws {
        state.withLockedValue { $0.headSent = true }
        var headers = headers
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        try await send(.head(head))
    }

    public func writeBody(_ buffer: ByteBuffer) async throws {
        if headOnly { return }
        try await send(.body(.byteBuffer(buffer)))
    }

    public func writeBody(_ bytes: [UInt8]) async throws {
        try await writeBody(channel.allocator.buffer(bytes: bytes))
    }

    public func end() async throws {
        let alreadyEnded = state.withLockedValue { s in
            defer { s.ended = true }
            return s.ended
        }
        if alreadyEnded { return }
        try await send(.end(nil))
        if closeAfterResponse {
            try? await channel.close()
        }
    }

    /// A complete response with a content length, written with one flush.
    public func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8]) async {
        await respond(status: status, headers: headers, body: channel.allocator.buffer(bytes: body))
    }

    /// A complete response with a content length, written with one flush.
    public func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer) async {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let alreadyEnded = state.withLockedValue { s in
            defer { s.headSent = true; s.ended = true }
            return s.ended
        }
        if alreadyEnded { return }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        if body.readableBytes > 0, !headOnly { channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil) }
        do {
            try await send(.end(nil))
            if closeAfterResponse { try? await channel.close() }
        } catch {
            try? await channel.close()
        }
    }

    /// Ends the response if the responder did not (a responder that returned early).
    func finish() async {
        let (headSent, ended) = state.withLockedValue { ($0.headSent, $0.ended) }
        if ended { return }
        if !headSent {
            await respond(status: .internalServerError, headers: ["content-type": "text/plain"], body: Array("no response\n".utf8))
        } else {
            try? await end()
        }
    }

    /// Ends the response abnormally: closes the connection (HTTP/1.1) or resets the stream
    /// (HTTP/2), so the client sees a failed response rather than a short one.
    public func abort() {
        state.withLockedValue { $0.ended = true }
        channel.close(promise: nil)
    }

    /// Completes when the client connection (or HTTP/2 stream) closes.
    public func waitForClose() async {
        try? await channel.closeFuture.get()
    }
}
