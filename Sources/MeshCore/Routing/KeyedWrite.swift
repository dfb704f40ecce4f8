import KubeModel

/// Both sides of a write to an object whose key its own metadata decides: the object as it is
/// (read by the proxy) and the object as the write will leave it. A write that would move the
/// object into or out of a shard is refused by whoever holds the plan; this type only works
/// out the future and the body that carries it safely.
///
/// The key field is `ownerReferences` for object keys (the controller owner's uid) and
/// `labels` for a Namespace owned through label selectors.
/// - A PUT replaces the key field with the body's: the body is the future.
/// - A patch that cannot touch the key field (`PatchReach`) leaves it as it is.
/// - A patch that can is applied to the current object here, and the judged outcome is pinned:
///   the patch carries the object's resourceVersion as a precondition, so the API server
///   applies it to exactly the object that was judged, or refuses.
/// Every main-resource write is pinned to the judged object's uid, so a namesake created
/// meanwhile is not written in its place. Server-side apply cannot be predicted and is refused.
public enum KeyedWrite {
    public struct Plan: Sendable, Equatable {
        /// The object's identity after the write.
        public var future: ObjectIdentity
        /// The body to send in place of the client's (preconditions added); nil to send it as it came.
        public var body: [UInt8]?
    }

    public static func plan(current: JSON, info: RequestInfo, contentType: String?, body: [UInt8],
                            keyField: String) -> Result<Plan, StatusError> {
        let now = ObjectIdentity(json: current)
        // Subresources (status, scale, …) never change metadata.
        guard info.subresource == nil else { return .success(Plan(future: now, body: nil)) }
        let uid = now.uid
        switch info.verb {
        case .update:
            return RequestBody.read(contentType: contentType, bytes: body).map { read in
                var future = read.identity
                future.uid = uid
                future.name = now.name
                future.namespace = now.namespace
                guard var json = read.json, (json.uid ?? "").isEmpty, !uid.isEmpty else { return Plan(future: future, body: nil) }
                json.setMetadata("uid", .string(uid))
                return Plan(future: future, body: json.serialized())
            }
        case .patch:
            return planPatch(current: current, now: now, contentType: contentType ?? "", body: body, keyField: keyField)
        default:
            return .success(Plan(future: now, body: nil))
        }
    }

    static func planPatch(current: JSON, now: ObjectIdentity, contentType: String, body: [UInt8],
                          keyField: String) -> Result<Plan, StatusError> {
        let kind: PatchReach.Kind
        switch BodyFormat.mediaType(contentType) {
        case "application/json-patch+json": kind = .json
        case "application/merge-patch+json": kind = .merge
        case "application/strategic-merge-patch+json": kind = .strategic
        case "application/apply-patch+yaml", "application/apply-patch+cbor":
            return .failure(StatusError(code: 415, reason: .unsupportedMediaType,
                                        message: "the proxy cannot predict what a server-side apply does to \(keyField), which decides this object's shard; use an update or a JSON, merge or strategic merge patch"))
        default:
            return .failure(.unsupportedMediaType(contentType))
        }
        let patch: JSON
        do {
            patch = try JSON.parse(body)
        } catch {
            return .failure(.badRequest("the patch could not be decoded: \(error)"))
        }
        guard PatchReach.mayChange(metadataField: keyField, patch: patch, kind: kind) else {
            return pinned(patch, kind: kind, uid: now.uid, resourceVersion: nil).map { Plan(future: now, body: $0) }
        }
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
        var future = ObjectIdentity(json: result)
        future.uid = now.uid
        future.name = now.name
        future.namespace = now.namespace
        return pinned(patch, kind: kind, uid: now.uid, resourceVersion: now.resourceVersion).map { Plan(future: future, body: $0) }
    }

    /// The patch with preconditions on the judged object's uid and (when given) resourceVersion:
    /// `test` operations first in a JSON patch, `metadata` fields in a merge patch (where the API
    /// server reads them as preconditions). Preconditions the client set itself are kept.
    static func pinned(_ patch: JSON, kind: PatchReach.Kind, uid: String, resourceVersion: String?) -> Result<[UInt8]?, StatusError> {
        var fields: [(String, String)] = []
        if !uid.isEmpty { fields.append(("uid", uid)) }
        if let resourceVersion, !resourceVersion.isEmpty { fields.append(("resourceVersion", resourceVersion)) }
        guard !fields.isEmpty else { return .success(nil) }
        switch kind {
        case .json:
            guard case .array(let operations) = patch else { return .failure(.badRequest("json patch must be an array of operations")) }
            let tests: [JSON] = fields.map { ["op": "test", "path": .string("/metadata/\($0.0)"), "value": .string($0.1)] }
            return .success(JSON.array(tests + operations).serialized())
        case .merge, .strategic:
            guard case .object = patch else { return .failure(.badRequest("a merge patch must be a JSON object")) }
            var pinned = patch
            if let metadata = patch["metadata"], metadata.objectValue == nil {
                return .failure(StatusError(code: 422, reason: .invalid,
                                            message: "the proxy cannot pin a patch that replaces metadata as a whole to the object it judged"))
            }
            for (field, value) in fields where pinned["metadata"]?[field] == nil {
                pinned.setValue(.string(value), at: ["metadata", field])
            }
            return .success(pinned.serialized())
        }
    }
}
