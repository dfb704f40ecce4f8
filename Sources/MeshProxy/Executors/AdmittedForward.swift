import KubeModel
import MeshCore

/// A request the shard allows, admitted as `write`: relayed, or tunnelled when it upgrades;
/// not sent at all when the write may no longer leave (`ShardState.departureRefusal`).
struct AdmittedForward: AsyncExecutor {
    let proxy: ShardProxy
    let info: RequestInfo
    let write: ShardState.WriteTicket

    func run(_ call: AsyncCall) async {
        if let refusal = proxy.state.departureRefusal(write) {
            proxy.metrics.add(.writesAborted)
            return await proxy.refuse(refusal, writer: call.writer)
        }
        let shardedCall = ShardProxy.isShardedCall(info, write)
        if ShardProxy.isUpgrade(call.request.headers, isHTTP2: call.request.isHTTP2, info: info) {
            await Tunnel(proxy: proxy, shardedCall: shardedCall).run(call)
        } else {
            await StreamRelay(proxy: proxy, shardedCall: shardedCall).run(call)
        }
    }
}
