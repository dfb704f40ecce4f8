import KubeModel
import MeshCore
import MeshHTTP
import NIOCore

extension ShardProxy {
    /// A write to an object that reaches every object of resources this shard holds only part of
    /// (a CustomResourceDefinition, an admission webhook or policy, an APIService): read it,
    /// work out what the write leaves, refuse it if that changes what the object does to the
    /// objects it reaches (`DefinitionChange`), else forward it pinned to the version judged.
    func relayDefinitionWrite(_ request: ServerRequest, info: RequestInfo, write: ShardState.WriteTicket, writer: ResponseWriter) async {
        let spec = write.spec
        guard let current = await readCurrent(request, info: info, shardedCall: ShardProxy.isShardedCall(info, write), writer: writer) else { return }
        let plan: KeyedWrite.Plan
        switch KeyedWrite.plan(current: current, info: info, contentType: request.headers.first(name: "content-type"),
                               body: request.bodyBytes, keyField: nil) {
        case .success(let planned): plan = planned
        case .failure(let error): return await refuse(error, writer: writer)
        }
        guard let future = plan.object else {
            return await refuse(StatusError(code: 415, reason: .unsupportedMediaType,
                                            message: "the proxy reads a write to \(info.groupResource) as JSON only"), writer: writer)
        }
        if DefinitionChange.reachesObjects(current: current, future: future) {
            let message = "\(info.verb.rawValue) \(info.groupResource) refused: the write changes what \(info.name ?? "it") does to objects of other shards (shard \(spec?.shard ?? "(none)") does not own all it reaches); only its metadata, other than ownerReferences, and its webhooks' caBundle may change"
            return await refuse(StatusError.forbidden(message), writer: writer)
        }
        var forwarded = request
        if let body = plan.body { forwarded.body = ByteBuffer(bytes: body) }
        metrics.add(.passedThrough)
        await forward(forwarded, info: info, write: write, writer: writer)
    }
}
