import KubeHTTP
import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// What every executor of the proxy uses to reach the API server and to answer: the headers
/// that go up and come down, a Status answer, an upstream failure's answer, one request over
/// the loop's pool, and one read whole within a deadline.
extension ShardProxy {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the upstream connection sets itself.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                                        "trailer", "upgrade", "host", "content-length"]

    /// The token in the kubeconfig `--kubeconfig-out` writes: it stands for "use the proxy's
    /// credentials" and never goes upstream.
    static let localToken = "ctrlmesh-proxy-local"

    /// Responses up to this size with a known length are relayed in one piece.
    static let smallResponseBytes = 1 << 20

    /// The request's headers as they go upstream. An upgrade keeps `Connection` and
    /// `Upgrade`: the tunnel carries them to the server, which answers the upgrade.
    static func upstreamHeaders(_ headers: HTTPHeaders, keepingUpgrade: Bool = false) -> HTTPHeaders {
        var out = HTTPHeaders()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower), !(keepingUpgrade && (lower == "connection" || lower == "upgrade")) { continue }
            if lower == "authorization", value == "Bearer \(localToken)" { continue }
            out.add(name: name, value: value)
        }
        return out
    }

    static func downstreamHeaders(_ headers: HTTPHeaders, keepLength: Bool) -> HTTPHeaders {
        var out = HTTPHeaders()
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower == "content-length" ? !keepLength : hopByHop.contains(lower) { continue }
            out.add(name: name, value: value)
        }
        return out
    }

    func refuse(_ error: StatusError, writer: ResponseWriter) async {
        metrics.countAnswer(error)
        await writer.respond(error)
    }

    func upstreamFailed(_ error: any Error, writer: ResponseWriter, shardedCall: Bool = false) async {
        if error is CancellationError { return }
        await writer.respond(upstreamFailure(error, shardedCall: shardedCall))
    }

    /// A request that got no (whole) answer from the API server, counted and logged, and the
    /// Status the operator gets for it, on either executor: 504 when the answer did not come
    /// in time, 500 when it was too large to hold, 503 otherwise.
    func upstreamFailure(_ error: any Error, shardedCall: Bool) -> StatusError {
        metrics.add(.upstreamErrors)
        metrics.tally(status: nil, shardedCall: shardedCall)
        logger.warning("upstream request failed: \(error)")
        if error is ExchangeTimedOut || error is UpstreamResponse.TimedOut {
            return StatusError(code: 504, reason: .timeout, message: "the API server did not answer the proxy within \(ShardProxy.exchangeSeconds) seconds")
        }
        if let tooLarge = error as? UpstreamResponse.TooLarge {
            return StatusError.internalError("the proxy does not hold an answer of the API server larger than \(tooLarge.limit) bytes")
        }
        return StatusError(code: 503, reason: .serviceUnavailable, message: "the proxy could not reach the API server: \(error)")
    }

    struct ExchangeTimedOut: Error {}

    /// An object-keyed answer whose key the proxy cannot read: nothing of it is delivered.
    static let unreadableKey = StatusError.internalError("the proxy could not read the object's key from the API server's response")

    /// The most of one object's answer the proxy reads whole (to judge it, or as the answer to
    /// a write it made): etcd stores at most 1.5 MiB per object, and this leaves room for any
    /// encoding of it. A larger answer is refused, not held.
    static let objectBytes = 16 << 20

    /// How long an exchange whose answer the proxy reads whole may take, head and body.
    static let exchangeSeconds: Int64 = 60

    /// Sends a request over the upstream pool of `loop` (the loop the operator's request came
    /// on, whose connections the event-loop executors use too), with the proxy's credentials
    /// when the operator sent none. The answer's head is due within the exchange deadline;
    /// its body streams for as long as the server sends it.
    func send(_ method: HTTPMethod, target: String, headers: HTTPHeaders, body: ByteBuffer? = nil,
              on loop: any EventLoop) async throws -> UpstreamResponse {
        var headers = headers
        upstream.authorize(&headers)
        return try await pool.send(HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers), body: body,
                                   on: loop, headTimeout: .seconds(ShardProxy.exchangeSeconds))
    }

    /// One request whose answer the proxy reads whole before it answers (its own reads to
    /// judge a write, the writes it makes itself): bounded in size and in time, so no judged
    /// request, and no spec change waiting for it, hangs on an answer that does not end.
    func exchange(method: HTTPMethod, target: String, headers: HTTPHeaders, body: ByteBuffer? = nil,
                  limit: Int, on loop: any EventLoop) async throws -> (UpstreamResponse, ByteBuffer) {
        try await withThrowingTaskGroup(of: (UpstreamResponse, ByteBuffer)?.self) { group in
            group.addTask {
                let response = try await self.send(method, target: target, headers: headers, body: body, on: loop)
                return (response, try await response.body.collect(upTo: limit))
            }
            group.addTask {
                try await Task.sleep(for: .seconds(ShardProxy.exchangeSeconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let answer = try await group.next(), let answer else { throw ExchangeTimedOut() }
            return answer
        }
    }
}
