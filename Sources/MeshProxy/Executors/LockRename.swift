import KubeModel
import MeshCore
import MeshHTTP
import NIOCore

/// A request for the operator's leader-election lock goes to this shard's own lock
/// (`LeaderLockRename`): the target and the body's name are renamed on the way up, the answer's
/// name back on the way down, so each shard elects its own leader without knowing it.
struct LockRename: AsyncExecutor {
    let proxy: ShardProxy
    let info: RequestInfo
    let lock: ShardSpec.LeaderElectionLock
    let shard: String

    func run(_ call: AsyncCall) async {
        let request = call.request
        let shardName = LeaderLockRename.shardLockName(lock.name, shard: shard)
        let renamed = LeaderLockRename.target(call.target, resource: lock.resource, name: lock.name, newName: shardName).encoded
        var headers = ShardProxy.upstreamHeaders(request.headers)
        headers.remove(name: "accept-encoding")
        proxy.stamp(&headers, .resource(info.with(verb: info.verb, name: info.name == nil ? nil : shardName, subresource: info.subresource)))
        var body: ByteBuffer?
        if request.body.readableBytes > 0 {
            guard var json = call.body.json else {
                return await proxy.refuse(StatusError.unsupportedMediaType(request.headers.first(name: "content-type") ?? "none"), writer: call.writer)
            }
            if json.name == lock.name { json.setMetadata("name", .string(shardName)) }
            body = ByteBuffer(bytes: json.serialized())
        }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        do {
            let (response, collected) = try await proxy.exchange(method: request.method, target: renamed, headers: headers, body: body,
                                                                 limit: ShardProxy.objectBytes, on: request.eventLoop)
            var out = Array(collected.readableBytesView)
            if var json = try? JSON.parse(out), json.name == shardName {
                json.setMetadata("name", .string(lock.name))
                out = json.serialized()
            }
            await call.writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                      body: out)
        } catch {
            await proxy.upstreamFailed(error, writer: call.writer)
        }
    }
}
