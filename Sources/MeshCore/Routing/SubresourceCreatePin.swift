import KubeModel

/// POSTs to an object's subresource that act on the object, pinned to the version the proxy
/// judged, as `DeletePin` pins a delete:
/// - `eviction` deletes the pod: its `deleteOptions` get the judged uid and resourceVersion as
///   preconditions (an object-keyed pod's dependents may not be orphaned);
/// - `binding` assigns the pod to a node: the API server checks the Binding's own
///   `metadata.uid` and `metadata.resourceVersion` against the pod's, so those are set.
/// Other subresources (exec, attach, portforward, token) change no object and go as they came.
/// Bodies are read as JSON only: an Eviction or Binding the proxy cannot read is refused.
public enum SubresourceCreatePin {
    /// The body to send instead of the client's, or nil when the subresource is not pinned.
    public static func pinned(subresource: String, contentType: String?, body: [UInt8], uid: String, resourceVersion: String,
                              mode: ShardSpec.KeyMode) -> Result<[UInt8]?, StatusError> {
        guard subresource == "eviction" || subresource == "binding" else { return .success(nil) }
        let type = contentType ?? "application/json"
        guard BodyFormat(contentType: type) == .json else {
            return .failure(StatusError(code: 415, reason: .unsupportedMediaType,
                                        message: "the proxy reads a \(subresource) body as application/json only, not \(type)"))
        }
        var object: JSON
        do {
            object = try JSON.parse(body)
        } catch {
            return .failure(.badRequest("the \(subresource) body could not be decoded: \(error)"))
        }
        guard case .object = object else { return .failure(.badRequest("the \(subresource) body must be a JSON object")) }
        if let problem = ObjectMetaCheck.decodeError(object) { return .failure(.badRequest("the \(subresource) body could not be decoded: \(problem)")) }
        if subresource == "eviction" {
            let options = object["deleteOptions"].flatMap { $0.isNull ? nil : $0 } ?? .object(JSONObject())
            // The query of a POST holds create options, never delete options.
            let pinned = DeleteOptions.checked(options).flatMap {
                DeletePin.pin($0, query: QueryParameters(), uid: uid, resourceVersion: resourceVersion, mode: mode)
            }
            switch pinned {
            case .success(let pinned): object["deleteOptions"] = pinned
            case .failure(let error): return .failure(error)
            }
        } else {
            for (field, judged) in [("uid", uid), ("resourceVersion", resourceVersion)] where !judged.isEmpty {
                if let named = object.metadataValue(field)?.stringValue, !named.isEmpty, named != judged {
                    return .failure(StatusError(code: 409, reason: .conflict,
                                                message: "Precondition failed: \(field) in the binding: \(named), \(field) of the pod judged: \(judged)"))
                }
                object.setMetadata(field, .string(judged))
            }
        }
        return .success(object.serialized())
    }
}
