import KubeModel

/// A delete pinned to the object the proxy judged: the client's DeleteOptions (JSON or
/// protobuf), decoded strictly, with `preconditions.uid` and `preconditions.resourceVersion`
/// set to the judged object's, sent on as JSON. The API server then deletes that version of
/// that object or nothing: not a namesake created in between, nor the object after someone
/// else moved it into another shard.
///
/// An object-keyed delete may not orphan the object's dependents: they follow it through their
/// controller reference, and releasing them moves each into the shard of its own uid.
public enum DeletePin {
    public static func pinned(contentType: String?, body: [UInt8], query: QueryParameters = QueryParameters(), uid: String,
                              resourceVersion: String, mode: ShardSpec.KeyMode) -> Result<[UInt8], StatusError> {
        DeleteOptions.decode(contentType: contentType, body: body).flatMap { decoded in
            pinned(decoded, query: query, uid: uid, resourceVersion: resourceVersion, mode: mode)
        }
    }

    /// The same from options decoded already (`DeleteOptions.decode`): a deletecollection
    /// decodes its options once and pins them to each object it deletes.
    public static func pinned(_ decoded: JSON, query: QueryParameters, uid: String, resourceVersion: String,
                              mode: ShardSpec.KeyMode) -> Result<[UInt8], StatusError> {
        pin(decoded, query: query, uid: uid, resourceVersion: resourceVersion, mode: mode).map { options in
            var options = options
            options["kind"] = "DeleteOptions"
            if options["apiVersion"] == nil || options["apiVersion"]?.isNull == true { options["apiVersion"] = "v1" }
            return options.serialized()
        }
    }

    /// Decoded options with the preconditions set (what an Eviction carries inside it).
    public static func pin(_ decoded: JSON, query: QueryParameters, uid: String, resourceVersion: String,
                           mode: ShardSpec.KeyMode) -> Result<JSON, StatusError> {
        var options = decoded
        if mode == .object, DeleteOptions.orphans(options, query: query) {
            return .failure(.forbidden("the proxy refuses to orphan the dependents of an object keyed by its controller: they would move to other shards; delete in the background or foreground"))
        }
        for (field, judged) in [("uid", uid), ("resourceVersion", resourceVersion)] where !judged.isEmpty {
            if let named = options["preconditions"]?[field]?.stringValue, named != judged {
                // The client named another object (or version) than the one judged: the API
                // server would delete that one if it is there now.
                return .failure(StatusError(code: 409, reason: .conflict,
                                            message: "Precondition failed: \(field) in precondition: \(named), \(field) of the object judged: \(judged)"))
            }
            options.setValue(.string(judged), at: ["preconditions", field])
        }
        return .success(options)
    }
}
