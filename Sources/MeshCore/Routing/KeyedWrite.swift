import KubeModel

/// Both sides of a write to an object whose key its own metadata decides: the object as it is
/// (read by the proxy) and the object as the write will leave it. A write that would move the
/// object into or out of a shard is refused by whoever holds the plan; this type only works
/// out the future and the body that carries it safely.
///
/// The key field is `ownerReferences` for object keys (the controller owner's uid) and
/// `labels` for a Namespace owned through label selectors.
/// - A PUT replaces the key field with the body's: the body is the future (status subresources
///   included: a built-in kind keeps metadata changes made through them).
/// - A patch that cannot touch the key field (`PatchReach`) leaves it as it is.
/// - A patch that can is applied to the current object here, and that result is the future.
/// Every write, subresources included, is pinned to the resourceVersion that was judged: the
/// API server applies it to exactly the object version the proxy read, or refuses (409/422).
/// Without the pin, a write judged on one version could land on the next, whose controller
/// someone else changed meanwhile. A resourceVersion is unique across objects, so the pin also
/// rules out a namesake created in between. Server-side apply cannot be predicted: refused.
public enum KeyedWrite {
    public struct Plan: Sendable, Equatable {
        /// The object's identity after the write.
        public var future: ObjectIdentity
        /// The body to send in place of the client's (the precondition added); nil to send it
        /// as it came (it already carries the judged resourceVersion).
        public var body: [UInt8]?
        /// The whole object after the write, when it was worked out: a JSON body that is the
        /// object, or the patch applied (always, without a key field).
        public var object: JSON?
    }

    /// Whether the body of a write is the object (or a patch of it), whose metadata the API
    /// server applies. It is for the object itself and for its `status` and `finalize`
    /// subresources (a built-in kind's status write keeps its metadata changes); a `scale`
    /// body is a Scale, which changes replicas alone. An unknown subresource is judged as the
    /// object: the proxy cannot prove its metadata is dropped.
    static func bodyIsTheObject(_ info: RequestInfo) -> Bool {
        info.subresource != "scale"
    }

    /// The JSON patch operations the API server accepts, less the one the pin adds.
    public static let maxClientPatchOperations = JSONPatch.Limits().maxOperations - 1

    /// `keyField` nil: everything in the object matters, and a patch is always applied.
    public static func plan(current: JSON, info: RequestInfo, contentType: String?, body: [UInt8],
                            keyField: String?) -> Result<Plan, StatusError> {
        let now = ObjectIdentity(json: current)
        let judged = now.resourceVersion
        switch info.verb {
        case .update:
            return RequestBody.read(contentType: contentType, bytes: body).flatMap { read in
                var future = bodyIsTheObject(info) ? read.identity : now
                future.uid = now.uid
                future.name = now.name
                future.namespace = now.namespace
                let object = bodyIsTheObject(info) ? read.json : nil
                let sent = read.identity.resourceVersion
                if !sent.isEmpty {
                    return sent == judged ? .success(Plan(future: future, body: nil, object: object)) : .failure(conflict(info, judged: judged, sent: sent))
                }
                guard var json = read.json else {
                    return .failure(conflict(info, judged: judged, sent: "none (a protobuf body must carry the object's resourceVersion)"))
                }
                json.setMetadata("resourceVersion", .string(judged))
                return .success(Plan(future: future, body: json.serialized(), object: object))
            }
        case .patch:
            return planPatch(current: current, now: now, info: info, contentType: contentType ?? "", body: body, keyField: keyField)
        default:
            return .success(Plan(future: now, body: nil))
        }
    }

    static func planPatch(current: JSON, now: ObjectIdentity, info: RequestInfo, contentType: String, body: [UInt8],
                          keyField: String?) -> Result<Plan, StatusError> {
        let kind: PatchReach.Kind
        switch BodyFormat.mediaType(contentType) {
        case "application/json-patch+json": kind = .json
        case "application/merge-patch+json": kind = .merge
        case "application/strategic-merge-patch+json": kind = .strategic
        case "application/apply-patch+yaml", "application/apply-patch+cbor":
            return .failure(StatusError(code: 415, reason: .unsupportedMediaType,
                                        message: "the proxy cannot predict what a server-side apply does to \(keyField ?? "the object"), which its judgement of this write depends on; use an update or a JSON, merge or strategic merge patch"))
        default:
            return .failure(.unsupportedMediaType(contentType))
        }
        let patch: JSON
        do {
            patch = try JSON.parse(body)
        } catch {
            return .failure(.badRequest("the patch could not be decoded: \(error)"))
        }
        var future = now
        var object: JSON?
        if bodyIsTheObject(info), keyField.map({ PatchReach.mayChange(metadataField: $0, patch: patch, kind: kind) }) ?? true {
            let result: JSON
            do throws(PatchError) {
                switch kind {
                case .json: result = try JSONPatch.apply(patch, to: current)
                case .merge:
                    guard case .object = patch else { throw PatchError(.malformed, "merge patch must be a JSON object") }
                    result = MergePatch.apply(patch, to: current)
                case .strategic: result = try StrategicMergePatch.apply(patch, to: current)
                }
            } catch {
                return .failure(error.status)
            }
            if let problem = ObjectMetaCheck.decodeError(result) { return .failure(.badRequest("the patched object could not be decoded: \(problem)")) }
            let causes = ObjectMetaCheck.ownerReferenceCauses(result)
            if !causes.isEmpty { return .failure(RequestBody.invalid(current.kind ?? "", name: now.name, causes)) }
            future = ObjectIdentity(json: result)
            future.uid = now.uid
            future.name = now.name
            future.namespace = now.namespace
            object = result
        }
        return pinned(patch, kind: kind, info: info, resourceVersion: now.resourceVersion).map { Plan(future: future, body: $0, object: object) }
    }

    /// The patch with the judged resourceVersion as its precondition: a `test` operation first
    /// in a JSON patch, `metadata.resourceVersion` in a merge patch (where the API server reads
    /// it as a precondition). A different resourceVersion the client named itself is a 409.
    static func pinned(_ patch: JSON, kind: PatchReach.Kind, info: RequestInfo, resourceVersion: String) -> Result<[UInt8]?, StatusError> {
        switch kind {
        case .json:
            guard case .array(let operations) = patch else { return .failure(.badRequest("json patch must be an array of operations")) }
            guard operations.count <= maxClientPatchOperations else {
                return .failure(StatusError(code: 413, reason: .requestEntityTooLarge,
                                            message: "The allowed maximum operations in a JSON patch through the proxy is \(maxClientPatchOperations) (it adds a resourceVersion test), got \(operations.count)"))
            }
            let test: JSON = ["op": "test", "path": "/metadata/resourceVersion", "value": .string(resourceVersion)]
            return .success(JSON.array([test] + operations).serialized())
        case .merge, .strategic:
            guard case .object = patch else { return .failure(.badRequest("a merge patch must be a JSON object")) }
            if let metadata = patch["metadata"], metadata.objectValue == nil {
                return .failure(StatusError(code: 422, reason: .invalid,
                                            message: "the proxy cannot pin a patch that replaces metadata as a whole to the object it judged"))
            }
            if let sent = patch["metadata"]?["resourceVersion"], !sent.isNull {
                return sent.stringValue == resourceVersion ? .success(nil) : .failure(conflict(info, judged: resourceVersion, sent: sent.stringValue ?? sent.jsonString))
            }
            var pinned = patch
            pinned.setValue(.string(resourceVersion), at: ["metadata", "resourceVersion"])
            return .success(pinned.serialized())
        }
    }

    /// The client named a resourceVersion other than the one judged: the object changed
    /// between its read and the proxy's, and the API server would say so.
    static func conflict(_ info: RequestInfo, judged: String, sent: String) -> StatusError {
        .conflict(info.groupResource, info.name ?? "",
                  "the object has been modified; please apply your changes to the latest version and try again (resourceVersion \(sent), the proxy judged \(judged))")
    }
}
