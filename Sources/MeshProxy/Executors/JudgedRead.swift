import KubeModel
import MeshCore
import MeshHTTP
import NIOCore

/// A read of an object keyed by the object itself (its uid or controller): the answer is read
/// whole and delivered only when the object it holds is the shard's.
struct JudgedRead: AsyncExecutor {
    let proxy: ShardProxy
    let info: RequestInfo
    let mode: ShardSpec.KeyMode
    let spec: ShardSpec?
    let shardedCall: Bool

    func run(_ call: AsyncCall) async {
        let request = call.request
        let response: UpstreamResponse
        let body: ByteBuffer
        do {
            (response, body) = try await proxy.exchange(method: request.method, target: request.uri,
                                                        headers: ShardProxy.upstreamHeaders(request.headers), limit: ShardProxy.objectBytes,
                                                        on: request.eventLoop)
        } catch {
            return await proxy.upstreamFailed(error, writer: call.writer, shardedCall: shardedCall)
        }
        proxy.metrics.tally(status: Int(response.status.code), shardedCall: shardedCall)
        if response.status == .ok {
            let contentType = response.headers.first(name: "content-type")
            guard let identity = JudgedRead.identity(of: Array(body.readableBytesView), contentType: contentType) else {
                proxy.metrics.add(.filterErrors)
                return await proxy.refuse(ShardProxy.unreadableKey, writer: call.writer)
            }
            guard ShardFence.owns(identity, gr: info.groupResource, mode: mode, spec: spec, namespaceLabels: proxy.namespaceLabels.lookup) else {
                return await proxy.refuse(StatusError.forbidden(proxy.notOwned(info, identity, mode: mode, spec: spec)), writer: call.writer)
            }
        }
        await call.writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                  body: Array(body.readableBytesView))
    }

    /// The identity of the object in an answer, JSON or protobuf; nil when it cannot be read.
    static func identity(of bytes: [UInt8], contentType: String?) -> ObjectIdentity? {
        switch BodyFormat(contentType: contentType ?? "application/json") {
        case .json: bytes.withUnsafeBufferPointer { try? JSONIdentityReader.object($0) }
        case .protobuf: try? ProtobufIdentityReader.envelope(bytes[...])
        case nil: nil
        }
    }
}
