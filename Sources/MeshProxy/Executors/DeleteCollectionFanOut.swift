import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// deletecollection across keys: the server would delete other shards' objects too, so the
/// proxy lists the collection (with the request's selectors), keeps what this shard owns and
/// deletes those one by one, each pinned to the uid it judged. The answer is the list of
/// deleted objects, as the API server's. Other shards' leader-election locks are never among
/// them, whatever namespace they share with this shard's objects.
struct DeleteCollectionFanOut: AsyncExecutor {
    let proxy: ShardProxy
    let info: RequestInfo
    /// How the resource is keyed; nil when it is not sharded (only the locks are left out).
    let mode: ShardSpec.KeyMode?
    let write: ShardState.WriteTicket

    func run(_ call: AsyncCall) async {
        let (request, writer, target) = (call.request, call.writer, call.target)
        let spec = write.spec
        let contentType = request.headers.first(name: "content-type")
        // The options are read once, before anything is listed: a body nobody can read
        // deletes nothing.
        let options: JSON
        switch DeleteOptions.decode(contentType: contentType, body: call.body.bytes) {
        case .success(let decoded): options = decoded
        case .failure(let error): return await proxy.refuse(error, writer: writer)
        }
        let query = target.query
        let selectors = query.keeping(["labelSelector", "fieldSelector"])
        let listTarget = info.collectionPath(namespace: info.namespace) + (selectors.pairs.isEmpty ? "" : "?" + selectors.encoded)
        var headers = ShardProxy.upstreamHeaders(request.headers)
        for header in ["content-type", "accept-encoding"] { headers.remove(name: header) }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        proxy.stamp(&headers, .resource(info.with(verb: .list)))
        let list: JSON
        do {
            let (response, body) = try await proxy.exchange(method: .GET, target: listTarget, headers: headers, limit: 256 << 20,
                                                            on: request.eventLoop)
            guard response.status == .ok else {
                return await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                            body: body)
            }
            list = try JSON.parse(body.readableBytesView)
        } catch {
            return await proxy.upstreamFailed(error, writer: writer)
        }
        let gr = info.groupResource
        let owned = (list["items"]?.arrayValue ?? []).filter { object in
            if MeshControlWrite.isMemberLease(gr: gr, name: object.name ?? "") { return false }
            if let lock = spec?.leaderElection, let spec,
               LeaderLockRename.isAnotherShardsLock(gr: gr, namespace: object.namespace, name: object.name ?? "", lock: lock, shard: spec.shard) {
                return false
            }
            guard let mode else { return true }  // not sharded: only the locks are left out
            return ShardFence.owns(ObjectIdentity(json: object), gr: gr, mode: mode, spec: spec, namespaceLabels: proxy.namespaceLabels.lookup)
        }
        var deleted: [JSON] = []
        for object in owned {
            guard let name = object.name, let uid = object.uid else { continue }
            let path = info.objectPath(namespace: object.namespace, name: name)
            let pinned: [UInt8]
            switch DeletePin.pinned(options, query: query, uid: uid, resourceVersion: object.resourceVersion ?? "", mode: mode ?? .namespace) {
            case .success(let body): pinned = body
            case .failure(let error) where error.code == 409: continue  // the options name another object or version
            case .failure(let error): return await proxy.refuse(error, writer: writer)
            }
            var deleteHeaders = ShardProxy.upstreamHeaders(request.headers)
            deleteHeaders.remove(name: "accept-encoding")
            deleteHeaders.replaceOrAdd(name: "content-type", value: "application/json")
            proxy.stamp(&deleteHeaders, .resource(info.with(verb: .delete, name: name, namespace: object.namespace)))
            let dryRun = query.keeping(["dryRun"])
            // Each delete leaves only while the spec it was judged under is still in force.
            if let refusal = proxy.state.departureRefusal(write) { return await proxy.refuse(refusal, writer: writer) }
            do {
                let (response, body) = try await proxy.exchange(method: .DELETE, target: path + (dryRun.pairs.isEmpty ? "" : "?" + dryRun.encoded),
                                                                headers: deleteHeaders, body: ByteBuffer(bytes: pinned), limit: ShardProxy.objectBytes,
                                                                on: request.eventLoop)
                switch response.status.code {
                case 200, 202: if let json = try? JSON.parse(body.readableBytesView) { deleted.append(json) }
                case 404, 409: continue  // gone, or replaced by a namesake: not the object judged
                default:
                    return await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                                body: body)
                }
            } catch {
                return await proxy.upstreamFailed(error, writer: writer)
            }
        }
        let result: JSON = ["kind": .string(list.kind ?? "List"), "apiVersion": .string(list.apiVersion ?? "v1"),
                            "metadata": .object(JSONObject()), "items": .array(deleted)]
        proxy.metrics.add(.passedThrough)
        await writer.respond(status: .ok, headers: ["content-type": "application/json"], body: result.serialized())
    }
}
