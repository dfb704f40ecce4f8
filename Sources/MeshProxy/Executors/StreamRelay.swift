import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// A request forwarded unchanged, its answer streamed back unchanged (a small complete answer
/// in one piece). A stream whose resource becomes sharded mid-way is cut off (the client
/// retries and gets its slice); the answer to a sharded call is tallied for the canary's
/// judgement.
struct StreamRelay: AsyncExecutor {
    let proxy: ShardProxy
    /// The list or watch registered with the shard state (revoked by a spec change).
    var ticket: ShardState.StreamTicket? = nil
    /// Changes of the watch-fault rules, which end a relayed watch cleanly.
    var policyChanges: AsyncStream<Void>? = nil
    var shardedCall = false

    func run(_ call: AsyncCall) async {
        let (request, writer) = (call.request, call.writer)
        let response: UpstreamResponse
        do {
            response = try await proxy.send(request.method, target: request.uri, headers: ShardProxy.upstreamHeaders(request.headers),
                                            body: request.body.readableBytes > 0 || request.method == .POST || request.method == .PUT ? request.body : nil,
                                            on: request.eventLoop)
        } catch {
            return await proxy.upstreamFailed(error, writer: writer, shardedCall: shardedCall)
        }
        proxy.metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
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
        let end = await proxy.pump(response, headHeaders: headers, writer: writer, ticket: ticket, filter: nil,
                                   faults: ShardProxy.WatchFaults(policyChanges: policyChanges))
        switch end {
        case .finished, .policyChanged: try? await writer.end()
        case .revoked, .faulted, .failed, .upstreamGone: writer.abort()
        case .clientGone: break
        }
    }
}
