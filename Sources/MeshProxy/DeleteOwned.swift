import AsyncHTTPClient
import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// deletecollection across keys: the server would delete other shards' objects too, so the
/// proxy lists the collection (with the request's selectors), keeps what this shard owns and
/// deletes those one by one, each pinned to the uid it judged. The answer is the list of
/// deleted objects, as the API server's.
extension ShardProxy {
    func deleteOwned(_ request: ServerRequest, info: RequestInfo, mode: ShardSpec.KeyMode, spec: ShardSpec?,
                     writer: ResponseWriter) async {
        let query = QueryParameters(request.rawQuery)
        var listQuery: [String] = []
        for key in ["labelSelector", "fieldSelector"] {
            if let value = query[key] { listQuery.append("\(key)=\(QueryEscaping.escape(value))") }
        }
        let target = String(request.path) + (listQuery.isEmpty ? "" : "?" + listQuery.joined(separator: "&"))
        var headers = ShardProxy.upstreamHeaders(request.headers)
        for header in ["content-type", "accept-encoding"] { headers.remove(name: header) }
        headers.replaceOrAdd(name: "accept", value: "application/json")
        let list: JSON
        do {
            let response = try await upstream.send(method: .GET, target: target, headers: headers)
            let body = try await response.body.collect(upTo: 256 << 20)
            guard response.status == .ok else {
                return await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                            body: body)
            }
            list = try JSON.parse(body.readableBytesView)
        } catch {
            return await upstreamFailed(error, writer: writer)
        }
        let gr = info.groupResource
        let owned = (list["items"]?.arrayValue ?? []).filter {
            ShardFence.owns(ObjectIdentity(json: $0), gr: gr, mode: mode, spec: spec, namespaceLabels: namespaceLabels.lookup)
        }
        var deleted: [JSON] = []
        for object in owned {
            guard let name = object.name, let uid = object.uid else { continue }
            let path = info.objectPath(namespace: object.namespace, name: name)
            guard let pinned = ShardProxy.pinDelete(request, uid: uid) else {
                return await refuse(StatusError.badRequest("the delete options of a deletecollection must be a JSON DeleteOptions without a uid precondition"), writer: writer)
            }
            var deleteHeaders = ShardProxy.upstreamHeaders(pinned.headers)
            deleteHeaders.remove(name: "accept-encoding")
            do {
                let response = try await upstream.send(method: .DELETE, target: path + (query["dryRun"].map { "?dryRun=\($0)" } ?? ""),
                                                       headers: deleteHeaders, body: pinned.body)
                let body = try await response.body.collect(upTo: 64 << 20)
                switch response.status.code {
                case 200, 202: if let json = try? JSON.parse(body.readableBytesView) { deleted.append(json) }
                case 404, 409: continue  // gone, or replaced by a namesake: not the object judged
                default:
                    return await writer.respond(status: response.status, headers: ShardProxy.downstreamHeaders(response.headers, keepLength: false),
                                                body: body)
                }
            } catch {
                return await upstreamFailed(error, writer: writer)
            }
        }
        let result: JSON = ["kind": .string(list.kind ?? "List"), "apiVersion": .string(list.apiVersion ?? "v1"),
                            "metadata": .object(JSONObject()), "items": .array(deleted)]
        metrics.add(.passedThrough)
        await writer.respond(status: .ok, headers: ["content-type": "application/json"], body: result.serialized())
    }
}
