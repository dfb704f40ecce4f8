import KubeHTTP
import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The executor for a request forwarded on the event loop: the judged head goes out on a
/// connection of the loop's upstream pool, the request body streams after it, and the
/// response streams back as it arrives — relayed unchanged, or through the shard's list or
/// watch filter. Upstream reads follow the client: while it takes nothing, nothing more is
/// read, so a slow reader of a large watch costs a bounded amount of memory.
final class ForwardExchange: InlineExchange, UpstreamResponseDelegate {
    enum Body {
        /// The response as the API server sent it.
        case relay
        /// A list or watch filtered to the shard, once the response shows its format.
        case filter(@Sendable (BodyFilter.Format) -> BodyFilter)
    }

    let proxy: ShardProxy
    let downstream: Downstream
    let head: HTTPRequestHead
    let body: Body
    /// The list or watch registered with the shard state (revoked by a spec change).
    var streamTicket: ShardState.StreamTicket?
    /// The write admitted under a spec: re-checked before it leaves.
    let writeTicket: ShardState.WriteTicket?
    /// Whether the answer counts toward a canary's judgement.
    let shardedCall: Bool
    /// A watch (its upstream may end cleanly; a revoked filtered one ends with 410).
    let isWatch: Bool
    /// The watch's registration for fault-rule changes.
    var policyWatch: Int?

    var attempt: UpstreamAttempt
    var phase: UpstreamAttempt.Phase { attempt.phase }
    var connection: UpstreamConnection?
    /// Body parts that arrived before the connection did.
    var pendingBody: [ByteBuffer] = []
    var requestEnded = false
    var filter: BodyFilter?
    var format: BodyFilter.Format?
    /// Reused for every filtered chunk.
    var out: [UInt8] = []
    var headDeadline: Scheduled<Void>?

    init(proxy: ShardProxy, downstream: Downstream, head: HTTPRequestHead, body: Body,
         isWatch: Bool = false, writeTicket: ShardState.WriteTicket? = nil, shardedCall: Bool = false) {
        self.isWatch = isWatch
        self.proxy = proxy
        self.downstream = downstream
        self.head = head
        self.body = body
        self.writeTicket = writeTicket
        self.shardedCall = shardedCall
        attempt = UpstreamAttempt(method: head.method)
    }

    /// Takes an idle connection of the loop's pool at once, or asks for one; the head goes
    /// out when it is there.
    func start() {
        let loop = downstream.eventLoop
        if let connection = proxy.pool.idleConnection(on: loop) { return connected(connection) }
        let this = NIOLoopBound(self, eventLoop: loop)
        // A connection (and its TLS handshake) is due within the exchange deadline too.
        headDeadline = loop.scheduleTask(in: .seconds(ShardProxy.exchangeSeconds)) {
            this.value.upstreamTimedOut()
        }
        proxy.pool.connection(on: loop).whenComplete { result in
            let exchange = this.value
            switch result {
            case .success(let connection): exchange.connected(connection)
            case .failure(let error): exchange.failedBeforeHead(error)
            }
        }
    }

    func connected(_ connection: UpstreamConnection) {
        guard phase == .connecting else { return connection.release() }
        if let writeTicket, let refusal = proxy.state.departureRefusal(writeTicket) {
            // The spec or the lease changed while the write waited: it never leaves.
            proxy.metrics.add(.writesAborted)
            connection.release()
            return answer(refusal)
        }
        headDeadline?.cancel()
        headDeadline = nil
        self.connection = connection
        attempt.sent()
        // Every answer, a list's or a watch's too, begins within the exchange deadline: a
        // stalled API server gets the client a 504, not a hang.
        connection.send(head, delegate: self, headTimeout: .seconds(ShardProxy.exchangeSeconds))
        for part in pendingBody { connection.writeBody(part) }
        pendingBody = []
        if requestEnded { connection.endRequest() }
    }

    // MARK: The request

    func requestBody(_ buffer: ByteBuffer) {
        guard head.headers.contains(name: "content-length") else { return }  // a body nobody announced is not sent
        if let connection, phase != .connecting { connection.writeBody(buffer) } else { pendingBody.append(buffer) }
    }

    func requestEnd() {
        requestEnded = true
        if let connection, phase != .connecting, phase != .done { connection.endRequest() }
    }

    // MARK: The response

    func upstreamHead(_ response: HTTPResponseHead) {
        guard phase == .sent else { return }
        proxy.metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
        if case .filter(let make) = body, response.status == .ok {
            let encoding = response.headers.first(name: "content-encoding")?.lowercased() ?? "identity"
            guard encoding == "identity", let format = BodyFilter.format(contentType: response.headers.first(name: "content-type")) else {
                proxy.metrics.add(.filterErrors)
                dropConnection()
                return answer(.internalError("the proxy cannot filter a response of type \(response.headers.first(name: "content-type") ?? "unknown") with encoding \(encoding)"))
            }
            let filter = make(format)
            (self.filter, self.format) = (filter, format)
            proxy.metrics.add(filter.isWatch ? .filteredWatches : .filteredLists)
            attempt.answering()
            downstream.writeHead(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false))
        } else {
            // Errors are Status objects about the request, not objects of a shard: relayed.
            attempt.answering()
            downstream.writeHead(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: true))
        }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard phase == .streaming else { return }
        guard var active = filter else { return downstream.writeBody(buffer) }
        out.removeAll(keepingCapacity: true)
        do throws(FilterError) {
            try active.consume(buffer, into: &out)
        } catch {
            return filterFailed(error)
        }
        filter = active
        if !out.isEmpty { downstream.writeBody(downstream.allocator.buffer(bytes: out)) }
        if active.isWatch { proxy.state.noteDelivered(resourceVersion: active.lastDeliveredResourceVersion) }
    }

    func upstreamReadComplete() {
        guard phase == .streaming else { return }
        downstream.flush()
        if !downstream.isWritable { connection?.setReading(false) }
    }

    func upstreamEnd() {
        guard phase == .streaming else { return }
        let connection = self.connection
        self.connection = nil
        if let filter {
            do throws(FilterError) {
                try filter.finish()
            } catch {
                connection?.close()
                return filterFailed(error)
            }
            let (kept, dropped) = filter.counts
            if filter.isWatch {
                proxy.metrics.add(.eventsKept, kept)
                proxy.metrics.add(.eventsDropped, dropped)
            } else {
                proxy.metrics.add(.itemsKept, kept)
                proxy.metrics.add(.itemsDropped, dropped)
                if let ticket = streamTicket {
                    let meta = filter.listMeta
                    proxy.state.noteList(ticket.resource, ticket: ticket, resourceVersion: meta.resourceVersion, continueToken: meta.continueToken)
                }
            }
        }
        // A connection whose request did not go out whole (the server answered early) cannot
        // carry another one.
        if requestEnded { connection?.release() } else { connection?.close() }
        downstream.end()
        finish()
    }

    func upstreamFailed(_ error: any Error) {
        let reused = connection?.reused ?? false
        connection = nil
        switch attempt.failed(error, reused: reused) {
        case .ignored:
            return
        case .retry:
            start()
        case .beforeAnswer:
            failedBeforeHead(error)
        case .midAnswer:
            // A filtered watch that loses its upstream ends cleanly (the filter delivered whole
            // events only), as the API server's would: the client resumes from its last
            // resourceVersion. Relayed bytes or a cut list must not look complete.
            if isWatch, filter != nil { downstream.end() } else { downstream.abort() }
            finish()
        }
    }

    /// No connection, or it failed before the response began (and is not retried:
    /// `UpstreamAttempt`).
    func failedBeforeHead(_ error: any Error) {
        guard attempt.awaitingAnswer else { return }
        connection = nil
        answer(proxy.upstreamFailure(error, shardedCall: shardedCall))
    }

    func upstreamTimedOut() {
        guard attempt.awaitingAnswer else { return }
        dropConnection()
        answer(proxy.upstreamFailure(UpstreamResponse.TimedOut(), shardedCall: shardedCall))
    }

    func filterFailed(_ error: FilterError) {
        proxy.metrics.add(.filterErrors)
        proxy.logger.warning("ending \(head.method) \(head.uri): \(error)")
        dropConnection()
        if isWatch {
            let status = StatusError.internalError("the proxy could not filter the watch stream: \(error)")
            downstream.writeBody(downstream.allocator.buffer(bytes: ShardProxy.errorEvent(status, protobuf: format == .protobuf)))
            downstream.end()
        } else {
            downstream.abort()
        }
        finish()
    }

    // MARK: The client and the shard

    func downstreamWritabilityChanged() {
        downstream.watchStall()
        if downstream.isWritable { connection?.setReading(true) }
    }

    func cancel() {
        dropConnection()
        finish()
    }

    /// Whether a spec change leaves this stream running: a filtered list runs to its end under
    /// the spec it began with (the change waits for it before it is acknowledged), and
    /// `ShardState` records its resourceVersion as stale, so the watch that follows gets 410.
    /// Cutting it off would send the client into its error backoff rather than straight to a
    /// relist. A relayed list is cut: nothing records what it showed.
    var runsToItsEndWhenRevoked: Bool {
        if case .filter = body, !isWatch { return true }
        return false
    }

    /// A spec change took this stream's slice: a filtered watch ends with 410 so its client
    /// relists; a filtered list goes on (`runsToItsEndWhenRevoked`); any other stream is cut off.
    func revoked() {
        guard phase != .done, !runsToItsEndWhenRevoked else { return }
        dropConnection()
        guard case .filter = body else {
            downstream.abort()
            return finish()
        }
        proxy.metrics.add(.watchesExpired)
        guard phase == .streaming else { return answerExpired() }
        if filter != nil {
            downstream.writeBody(downstream.allocator.buffer(bytes: ShardProxy.errorEvent(ShardProxy.sliceChanged, protobuf: format == .protobuf)))
            downstream.end()
        } else {
            downstream.abort()
        }
        finish()
    }

    /// The watch-fault rules changed: the watch ends cleanly and is reopened under them.
    func policyChanged() {
        guard phase != .done else { return }
        dropConnection()
        if phase == .streaming { downstream.end() } else { downstream.abort() }
        finish()
    }

    /// A revoked stream whose client still has not gone after the grace period.
    func abortStream() {
        guard phase != .done else { return }
        dropConnection()
        downstream.abort()
        finish()
    }

    // MARK: Answers

    /// Answers before any response head went out; the request is not (or no longer) sent.
    func answer(_ status: StatusError) {
        guard phase != .done, phase != .streaming else { return }
        proxy.metrics.countAnswer(status)
        downstream.respond(status)
        finish()
    }

    func answerExpired() {
        let expired = FilteredStream.expiredWatch(accept: head.headers.first(name: "accept"))
        downstream.respond(status: .ok, headers: expired.headers, body: downstream.allocator.buffer(bytes: expired.body))
        finish()
    }

    /// Closes the upstream connection: a response abandoned half way cannot be resumed.
    func dropConnection() {
        connection?.close()
        connection = nil
    }

    func finish() {
        guard phase != .done else { return }
        headDeadline?.cancel()
        attempt.finished()
        release()
    }

    /// Gives back what the exchange held: its in-flight place, its stream or write ticket,
    /// its fault-rule registration.
    func release() {
        proxy.inFlight.leave()
        if let ticket = streamTicket { proxy.state.deregister(ticket) }
        streamTicket = nil
        if let writeTicket { proxy.state.endWrite(writeTicket) }
        if let id = policyWatch { proxy.policies.watchClosed(id) }
        policyWatch = nil
    }
}
