import MeshHTTP
import Foundation
import KubeModel

/// get and list.
extension APIServer {
    func get(_ c: RequestContext, writer: ResponseWriter) async throws {
        guard let object = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
        if c.wantsTable {
            let table = TableConverter(resource: c.resource).table(for: [object], resourceVersion: object.resourceVersion,
                                                                   includeObject: c.query["includeObject"])
            return await writeJSON(table, writer: writer)
        }
        await writeJSONBytes(servedBytes(object, as: c.resource), writer: writer)
    }

    /// The stored bytes, with `apiVersion` rewritten when a CRD serves several versions.
    func servedBytes(_ object: StoredObject, as resource: ResourceInfo) -> [UInt8] {
        if object.json.apiVersion == resource.apiVersion { return object.bytes }
        var json = object.json
        json["apiVersion"] = .string(resource.apiVersion)
        return json.serialized()
    }

    func list(_ c: RequestContext, writer: ResponseWriter) async throws {
        let filter = try ObjectFilter(namespace: c.info.namespace, query: c.query, info: c.resource)
        let current = store.currentResourceVersion
        if let requested = c.query["resourceVersion"], !requested.isEmpty {
            guard let rv = UInt64(requested) else { throw StatusError.badRequest("invalid resourceVersion \"\(requested)\"") }
            if c.query["resourceVersionMatch"] == "Exact", rv != current {
                throw StatusError.expired("too old resource version: \(rv) (\(current))")
            }
            if rv > current {
                throw StatusError(code: 504, reason: .timeout, message: "Too large resource version: \(rv), current: \(current)",
                                  retryAfterSeconds: 1)
            }
        }
        var after: ObjectKey?
        var listRV: UInt64?
        if let token = c.query["continue"], !token.isEmpty {
            let decoded = try ContinueToken.decode(token)
            if decoded.resourceVersion < store.state.withLock({ $0.historyFloor }) {
                throw StatusError.expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
            }
            after = decoded.after
            listRV = decoded.resourceVersion
        }
        let limit = (try? c.query.int("limit")).flatMap { $0 }.flatMap { $0 > 0 ? Int(clamping: $0) : nil }
        let page = store.page(c.gr, namespace: filter.namespace, after: after, limit: limit, matching: filter.matches)
        let items = page.items
        let resourceVersion = listRV ?? page.resourceVersion
        var continueToken: String?
        if page.more, let last = items.last {
            continueToken = ContinueToken(resourceVersion: resourceVersion, after: last.key).encoded
        }
        if c.wantsTable {
            var table = TableConverter(resource: c.resource).table(for: items, resourceVersion: resourceVersion, includeObject: c.query["includeObject"])
            if let continueToken { table.setValue(.string(continueToken), at: ["metadata", "continue"]) }
            return await writeJSON(table, writer: writer)
        }
        var metadata: JSON = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken {
            metadata["continue"] = .string(continueToken)
            // As kube-apiserver: the count is known only when every object in range is listed.
            if filter.selectsEverything { metadata["remainingItemCount"] = .int(page.remaining) }
        }
        if let shard = filter.shard { metadata["shardInfo"] = ["selector": .string(shard.description)] }
        await writeJSONBytes(listBody(c.resource, metadata: metadata, items: items), writer: writer)
    }

    /// A List assembled from the stored bytes of its items; items are never re-encoded.
    func listBody(_ resource: ResourceInfo, metadata: JSON, items: [StoredObject]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(256) { $0 + $1.bytes.count + 1 })
        out.append(contentsOf: "{\"kind\":".utf8)
        JSON.writeString(resource.listKind, into: &out)
        out.append(contentsOf: ",\"apiVersion\":".utf8)
        JSON.writeString(resource.apiVersion, into: &out)
        out.append(contentsOf: ",\"metadata\":".utf8)
        metadata.write(into: &out)
        out.append(contentsOf: ",\"items\":[".utf8)
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: servedBytes(item, as: resource))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}

/// The opaque `continue` value: the list's resourceVersion and the last key returned.
struct ContinueToken {
    var resourceVersion: UInt64
    var after: ObjectKey

    var encoded: String {
        let json: JSON = ["rv": .string(String(resourceVersion)), "ns": .string(after.namespace), "name": .string(after.name)]
        return Data(json.serialized()).base64EncodedString()
    }

    static func decode(_ token: String) throws(StatusError) -> ContinueToken {
        guard let data = Data(base64Encoded: token), let json = try? JSON.parse(Array(data)),
              let rv = json["rv"]?.stringValue.flatMap({ UInt64($0) }),
              let ns = json["ns"]?.stringValue, let name = json["name"]?.stringValue
        else {
            throw StatusError.badRequest("continue key is not valid: illegal base64 data or malformed token")
        }
        return ContinueToken(resourceVersion: rv, after: ObjectKey(namespace: ns, name: name))
    }
}
