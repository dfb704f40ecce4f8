import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// Streaming an upstream answer down to the operator, relayed or filtered, until it ends or
/// something ends it: what both stream executors share.
extension ShardProxy {
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
