import KubeModel
import MeshCore
import NIOHTTP1

/// How a list or watch of a sharded resource is asked of the API server and filtered on its
/// way back: one plan, whichever executor carries it out.
struct FilteredStream: Sendable {
    /// The target sent upstream: with a KEP-5866 `shardSelector` where the spec allows one.
    let target: String
    /// The headers sent upstream: uncompressed, JSON rather than CBOR (the filters read bytes).
    let headers: HTTPHeaders
    let makeFilter: @Sendable (BodyFilter.Format) -> BodyFilter

    init(info: RequestInfo, target parsed: RequestTarget, headers: HTTPHeaders, mode: ShardSpec.KeyMode, spec: ShardSpec?,
         namespaceLabels: @escaping @Sendable (String) -> [String: String]?) {
        let gr = info.groupResource
        let query = parsed.query
        var target = parsed.encoded
        var sentShardSelector = false
        if let selector = spec?.serverShardSelector(for: mode), gr != GroupResource(group: "", resource: "namespaces"),
           query["shardSelector"] == nil {
            // Let an API server with KEP-5866 do the work; without its shardInfo echo the
            // proxy filters the list itself.
            target = parsed.with(query: query.setting("shardSelector", selector.description)).encoded
            sentShardSelector = true
        }
        var headers = headers
        headers.remove(name: "accept-encoding")
        if let accept = headers.first(name: "accept"), accept.lowercased().contains("cbor") {
            headers.replaceOrAdd(name: "accept", value: "application/json")
        }
        self.target = target
        self.headers = headers
        let keep: @Sendable (ObjectIdentity) -> Bool = { identity in
            ShardFence.owns(identity, gr: gr, mode: mode, spec: spec, namespaceLabels: namespaceLabels)
        }
        let bookmarks = query.bool("allowWatchBookmarks")
        let fields = ShardFence.fieldsJudged(gr: gr, mode: mode, spec: spec)
        let watch = info.verb == .watch
        let trusts = sentShardSelector
        makeFilter = { format in
            watch ? BodyFilter.watch(format, bookmarks: bookmarks, keep: keep)
                : BodyFilter.list(format, fields: fields, trustsServerShardInfo: trusts, keep: keep)
        }
    }

    /// Why the stream must not be served as asked, before anything goes upstream: a watch
    /// resuming a view taken before the shard's slice changed (answered with a 410 event, so
    /// the client relists), or a continue token issued before it.
    enum Refusal {
        case relist
        case staleContinue(StatusError)
    }

    static func refusal(_ info: RequestInfo, query: QueryParameters, state: ShardState) -> Refusal? {
        let gr = info.groupResource
        if info.verb == .watch, query["sendInitialEvents"] != "true", state.watchNeedsRelist(gr, resourceVersion: query["resourceVersion"]) {
            return .relist
        }
        if info.verb == .list, let token = query["continue"], state.continueIsStale(gr, token: token) {
            return .staleContinue(.expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."))
        }
        return nil
    }

    /// The answer to a watch that must relist: one ERROR event (410) in the client's format.
    static func expiredWatch(accept: String?) -> (headers: HTTPHeaders, body: [UInt8]) {
        let protobuf = accept?.contains("application/vnd.kubernetes.protobuf") == true
        let contentType = protobuf ? "application/vnd.kubernetes.protobuf;stream=watch" : "application/json"
        return (["content-type": contentType], ShardProxy.errorEvent(ShardProxy.sliceChanged, protobuf: protobuf))
    }
}
