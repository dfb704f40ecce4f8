import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// A list or watch forwarded to `target` and its answer filtered to the shard on the way down
/// (`FilteredStream` plans it), or kept whole through a filter when a watch fault needs its
/// events. A revoked watch ends with 410; a filter that cannot read the stream ends it with an
/// error, never with bytes it did not judge.
struct FilteredRelay: AsyncExecutor {
    let proxy: ShardProxy
    let target: String
    let headers: HTTPHeaders
    let ticket: ShardState.StreamTicket
    var faults = ShardProxy.WatchFaults()
    let makeFilter: (BodyFilter.Format) -> BodyFilter

    func run(_ call: AsyncCall) async {
        let (request, writer) = (call.request, call.writer)
        let response: UpstreamResponse
        do {
            response = try await proxy.send(request.method, target: target, headers: headers, on: request.eventLoop)
        } catch {
            return await proxy.upstreamFailed(error, writer: writer)
        }
        guard response.status == .ok else {
            // Errors are Status objects about the request, not objects of a shard.
            return await proxy.relayResponse(response, writer: writer, ticket: ticket)
        }
        let encoding = response.headers.first(name: "content-encoding")?.lowercased() ?? "identity"
        guard encoding == "identity", let format = BodyFilter.format(contentType: response.headers.first(name: "content-type")) else {
            proxy.metrics.add(.filterErrors)
            let error = StatusError.internalError("the proxy cannot filter a response of type \(response.headers.first(name: "content-type") ?? "unknown") with encoding \(encoding)")
            return await proxy.refuse(error, writer: writer)
        }
        let filter = makeFilter(format)
        proxy.metrics.add(filter.isWatch ? .filteredWatches : .filteredLists)
        // A revoked watch ends with 410 at once. A revoked list runs to its end under the spec
        // it began with (the spec change waits for it before it is acknowledged), and
        // `ShardState` makes a watch from its resourceVersion 410: cutting it off instead
        // would send the client into its error backoff rather than straight to a relist.
        let end = await proxy.pump(response, headHeaders: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                   writer: writer, ticket: filter.isWatch ? ticket : nil, filter: filter,
                                   faults: filter.isWatch ? faults : ShardProxy.WatchFaults())
        switch end {
        case .finished(let summary):
            if let summary {
                if filter.isWatch {
                    proxy.metrics.add(.eventsKept, summary.kept)
                    proxy.metrics.add(.eventsDropped, summary.dropped)
                } else {
                    proxy.metrics.add(.itemsKept, summary.kept)
                    proxy.metrics.add(.itemsDropped, summary.dropped)
                    proxy.state.noteList(ticket.resource, ticket: ticket, resourceVersion: summary.listResourceVersion,
                                         continueToken: summary.continueToken)
                }
            }
            try? await writer.end()
        case .revoked:  // only watches are revoked mid-stream
            proxy.metrics.add(.watchesExpired)
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
            proxy.metrics.add(.filterErrors)
            proxy.logger.warning("ending \(request.method) \(request.uri): \(error)")
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
}
