import KubeModel
import MeshCore
import MeshHTTP

/// A create whose key is in its body (an object keyed by namespace or by its controller, or a
/// Namespace): the body is read (once: `DecodedBody`) and the create forwarded only when the
/// shard may make that object.
struct BodyJudgedCreate: AsyncExecutor {
    enum Judgement {
        /// An object keyed by `mode`.
        case object(ShardSpec.KeyMode)
        /// A Namespace; `sharded` when namespaces are sharded themselves.
        case namespace(sharded: Bool)
    }

    let proxy: ShardProxy
    let info: RequestInfo
    let judgement: Judgement
    let write: ShardState.WriteTicket

    func run(_ call: AsyncCall) async {
        let identity: ObjectIdentity
        switch call.body.read {
        case .success(let read): identity = read.identity
        case .failure(let error): return await proxy.refuse(error, writer: call.writer)
        }
        let spec = write.spec
        let gr = info.groupResource
        let labels = proxy.namespaceLabels.lookup
        switch judgement {
        case .namespace(let sharded):
            if sharded, !ShardFence.mayCreate(identity, gr: gr, mode: .namespace, spec: spec, namespaceLabels: labels) {
                return await proxy.refuse(StatusError.forbidden(proxy.notOwned(info, identity, mode: .namespace, spec: spec)), writer: call.writer)
            }
            if let refusal = ShardFence.namespaceOwnersRefusal(info, identity, spec: spec) {
                return await proxy.refuse(StatusError.forbidden(refusal), writer: call.writer)
            }
        case .object(let mode):
            guard ShardFence.mayCreate(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: labels) else {
                return await proxy.refuse(StatusError.forbidden(proxy.notOwned(info, identity, mode: mode, spec: spec)), writer: call.writer)
            }
        }
        await AdmittedForward(proxy: proxy, info: info, write: write).run(call)
    }
}
