import KubeHTTP
import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// Moving bytes between the operator and the API server: requests go up with hop-by-hop
/// headers removed; responses come down as they stream, filtered or not.
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
        metrics.add(.upstreamErrors)
        metrics.tally(status: nil, shardedCall: shardedCall)
        logger.warning("upstream request failed: \(error)")
        if error is ExchangeTimedOut || error is UpstreamResponse.TimedOut {
            return await writer.respond(StatusError(code: 504, reason: .timeout, message: "the API server did not answer the proxy within \(ShardProxy.exchangeSeconds) seconds"))
        }
        await writer.respond(StatusError(code: 503, reason: .serviceUnavailable, message: "the proxy could not reach the API server: \(error)"))
    }

    struct ExchangeTimedOut: Error {}

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

    /// Forwards a request unchanged and streams the response back unchanged. A stream whose
    /// resource becomes sharded mid-way is cut off (the client retries and gets its slice).
    /// The answer to a sharded call is tallied for the canary's judgement.
    func relay(_ request: ServerRequest, writer: ResponseWriter, ticket: ShardState.StreamTicket? = nil,
               policyChanges: AsyncStream<Void>? = nil, shardedCall: Bool = false) async {
        let response: UpstreamResponse
        do {
            response = try await send(request.method, target: request.uri, headers: ShardProxy.upstreamHeaders(request.headers),
                                      body: request.body.readableBytes > 0 || request.method == .POST || request.method == .PUT ? request.body : nil,
                                      on: request.eventLoop)
        } catch {
            return await upstreamFailed(error, writer: writer, shardedCall: shardedCall)
        }
        metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
        let headers = ShardProxy.downstreamHeaders(response.headers, keepLength: true)
        if ticket == nil, request.method != .HEAD, let length = response.headers.first(name: "content-length").flatMap(Int.init),
           length <= ShardProxy.smallResponseBytes {
            // A small, complete response (most single-object requests): one read, one write.
            do {
                let body = try await response.body.collect(upTo: length)
                return await writer.respond(status: response.status, headers: headers, body: body)
            } catch {
                return writer.abort()
            }
        }
        let end = await pump(response, headHeaders: headers, writer: writer, ticket: ticket, filter: nil,
                             faults: WatchFaults(policyChanges: policyChanges))
        switch end {
        case .finished, .policyChanged: try? await writer.end()
        case .revoked, .faulted, .failed, .upstreamGone: writer.abort()
        case .clientGone: break
        }
    }

    /// Forwards a list or watch and filters its body to the shard.
    func relayFiltered(_ request: ServerRequest, target: String, headers: HTTPHeaders, writer: ResponseWriter,
                       ticket: ShardState.StreamTicket, faults: WatchFaults = WatchFaults(), makeFilter: (BodyFilter.Format) -> BodyFilter) async {
        let response: UpstreamResponse
        do {
            response = try await send(request.method, target: target, headers: headers, on: request.eventLoop)
        } catch {
            return await upstreamFailed(error, writer: writer)
        }
        guard response.status == .ok else {
            // Errors are Status objects about the request, not objects of a shard.
            return await relayResponse(response, writer: writer, ticket: ticket)
        }
        let encoding = response.headers.first(name: "content-encoding")?.lowercased() ?? "identity"
        guard encoding == "identity", let format = BodyFilter.format(contentType: response.headers.first(name: "content-type")) else {
            metrics.add(.filterErrors)
            let error = StatusError.internalError("the proxy cannot filter a response of type \(response.headers.first(name: "content-type") ?? "unknown") with encoding \(encoding)")
            return await refuse(error, writer: writer)
        }
        let filter = makeFilter(format)
        metrics.add(filter.isWatch ? .filteredWatches : .filteredLists)
        // A revoked watch ends with 410 at once. A revoked list runs to its end under the spec
        // it began with (the spec change waits for it before it is acknowledged), and
        // `ShardState` makes a watch from its resourceVersion 410: cutting it off instead
        // would send the client into its error backoff rather than straight to a relist.
        let end = await pump(response, headHeaders: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                             writer: writer, ticket: filter.isWatch ? ticket : nil, filter: filter,
                             faults: filter.isWatch ? faults : WatchFaults())
        switch end {
        case .finished(let summary):
            if let summary {
                if filter.isWatch {
                    metrics.add(.eventsKept, summary.kept)
                    metrics.add(.eventsDropped, summary.dropped)
                } else {
                    metrics.add(.itemsKept, summary.kept)
                    metrics.add(.itemsDropped, summary.dropped)
                    state.noteList(ticket.resource, ticket: ticket, resourceVersion: summary.listResourceVersion,
                                   continueToken: summary.continueToken)
                }
            }
            try? await writer.end()
        case .revoked:  // only watches are revoked mid-stream
            metrics.add(.watchesExpired)
            try? await writer.writeBody(ShardProxy.errorEvent(ShardProxy.sliceChanged, protobuf: format == .protobuf))
            try? await writer.end()
        case .policyChanged:
            try? await writer.end()
        case .faulted:
            if faults.fault?.expire == true {
                try? await writer.writeBody(ShardProxy.errorEvent(ShardProxy.injectedExpiry, protobuf: format == .protobuf))
            }
            try? await writer.end()
        case .failed(let error):
            metrics.add(.filterErrors)
            logger.warning("ending \(request.method) \(request.uri): \(error)")
            if filter.isWatch {
                let status = StatusError.internalError("the proxy could not filter the watch stream: \(error)")
                try? await writer.writeBody(ShardProxy.errorEvent(status, protobuf: format == .protobuf))
                try? await writer.end()
            } else {
                writer.abort()
            }
        case .upstreamGone:
            // A watch that loses its upstream ends cleanly, as the API server's would: the
            // client resumes from its last resourceVersion. A cut list must not look complete.
            if filter.isWatch { try? await writer.end() } else { writer.abort() }
        case .clientGone:
            break
        }
    }

    func relayResponse(_ response: UpstreamResponse, writer: ResponseWriter, ticket: ShardState.StreamTicket?) async {
        let end = await pump(response, headHeaders: ShardProxy.downstreamHeaders(response.headers, keepLength: true),
                             writer: writer, ticket: ticket, filter: nil)
        switch end {
        case .finished, .policyChanged: try? await writer.end()
        default: writer.abort()
        }
    }

    struct FilterSummary: Sendable {
        var kept: Int
        var dropped: Int
        var listResourceVersion: String?
        var continueToken: String?
    }

    enum PumpEnd: Sendable {
        case finished(FilterSummary?)
        case revoked
        /// A watch fault ended the stream.
        case faulted
        /// The watch-fault rules changed: the watch ends cleanly, to be reopened under them.
        case policyChanged
        case failed(FilterError)
        case upstreamGone
        case clientGone
    }

    /// What ends a watch besides its own course: the fault a policy gave it, and a change of
    /// the watch-fault rules.
    struct WatchFaults: Sendable {
        var fault: WatchFault?
        var policyChanges: AsyncStream<Void>?
    }

    /// What a watch ended by an `expire` fault gets.
    static let injectedExpiry = StatusError.expired("the watch was ended by an injected fault; relist")

    /// Writes the head, then copies (or filters) the body until it ends, the client goes, a
    /// spec change revokes the stream, or a watch fault ends it: after `closeAfterEvents`
    /// delivered events (counted per chunk, so the chunk holding the last one is delivered
    /// whole) or `closeAfter`, with each chunk of events held back `eventDelay`.
    func pump(_ response: UpstreamResponse, headHeaders: HTTPHeaders, writer: ResponseWriter,
              ticket: ShardState.StreamTicket?, filter initial: BodyFilter?, faults: WatchFaults = WatchFaults()) async -> PumpEnd {
        let watchFault = faults.fault
        do {
            try await writer.writeHead(status: response.status, headers: headHeaders)
        } catch {
            return .clientGone
        }
        let state = self.state
        return await withTaskGroup(of: PumpEnd?.self) { group in
            group.addTask {
                var filter = initial
                var out: [UInt8] = []  // reused for every chunk
                do {
                    for try await chunk in response.body {
                        if ticket?.revoked == true { return .revoked }
                        if var active = filter {
                            out.removeAll(keepingCapacity: true)
                            do throws(FilterError) {
                                try active.consume(chunk, into: &out)
                            } catch {
                                return .failed(error)
                            }
                            filter = active
                            if ticket?.revoked == true { return .revoked }
                            if !out.isEmpty, let delay = watchFault?.eventDelay { try await Task.sleep(for: delay) }
                            if !out.isEmpty { try await writer.writeBody(writer.allocator.buffer(bytes: out)) }
                            if active.isWatch { state.noteDelivered(resourceVersion: active.lastDeliveredResourceVersion) }
                            if let limit = watchFault?.closeAfterEvents, active.counts.kept >= limit { return .faulted }
                        } else {
                            try await writer.writeBody(chunk)
                        }
                    }
                } catch is CancellationError {
                    return ticket?.revoked == true ? .revoked : .clientGone
                } catch {
                    if Task.isCancelled { return ticket?.revoked == true ? .revoked : .clientGone }
                    return .upstreamGone
                }
                guard let filter else { return .finished(nil) }
                do throws(FilterError) {
                    try filter.finish()
                } catch {
                    return .failed(error)
                }
                let (kept, dropped) = filter.counts
                let meta = filter.listMeta
                return .finished(FilterSummary(kept: kept, dropped: dropped, listResourceVersion: meta.resourceVersion,
                                               continueToken: meta.continueToken))
            }
            if let ticket {
                group.addTask {
                    for await _ in ticket.revocations { return .revoked }
                    return ticket.revoked ? .revoked : nil
                }
            }
            if let changes = faults.policyChanges {
                group.addTask {
                    for await _ in changes {}
                    return Task.isCancelled ? nil : .policyChanged
                }
            }
            if let closeAfter = watchFault?.closeAfter {
                group.addTask {
                    do { try await Task.sleep(for: closeAfter) } catch { return nil }
                    return .faulted
                }
            }
            var result: PumpEnd = .clientGone
            for await end in group {
                guard let end else { continue }
                result = end
                break
            }
            group.cancelAll()
            return result
        }
    }
}
