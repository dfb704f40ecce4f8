import KubeModel

/// An object in a request body (a create or an update), read the way the API server will
/// read it: in full, with the API server's checks of metadata types and owner references.
/// A body the proxy cannot read, or that the API server would refuse for its metadata, is
/// refused here with that server's answer; it is never forwarded unjudged.
public struct RequestBody: Sendable {
    public let identity: ObjectIdentity
    /// The parsed object, for JSON bodies.
    public let json: JSON?

    public static func read(contentType: String?, bytes: [UInt8]) -> Result<RequestBody, StatusError> {
        let type = contentType ?? "application/json"
        switch BodyFormat(contentType: type) {
        case .json:
            let json: JSON
            do {
                json = try JSON.parse(bytes)
            } catch {
                return .failure(.badRequest("the request body could not be decoded: \(error)"))
            }
            if let problem = ObjectMetaCheck.decodeError(json) { return .failure(.badRequest("the request body could not be decoded: \(problem)")) }
            let causes = ObjectMetaCheck.ownerReferenceCauses(json)
            if !causes.isEmpty { return .failure(invalid(json.kind ?? "", name: json.name ?? "", causes)) }
            return .success(RequestBody(identity: ObjectIdentity(json: json), json: json))
        case .protobuf:
            let identity: ObjectIdentity
            do {
                identity = try ProtobufIdentityReader.envelope(bytes[...])
            } catch {
                return .failure(.badRequest("the request body could not be decoded: \(error)"))
            }
            if identity.controllers > 1 {
                return .failure(invalid(identity.kind, name: identity.name, [.init(
                    reason: "FieldValueInvalid", message: "Invalid value: only one reference can have Controller set to true",
                    field: "metadata.ownerReferences")]))
            }
            return .success(RequestBody(identity: identity, json: nil))
        case nil:
            return .failure(StatusError(code: 415, reason: .unsupportedMediaType,
                                        message: "the proxy reads request bodies as application/json or application/vnd.kubernetes.protobuf, not \(type)"))
        }
    }

    static func invalid(_ kind: String, name: String, _ causes: [StatusError.Cause]) -> StatusError {
        StatusError.invalid(kind: kind.isEmpty ? "Object" : kind, group: "", name: name, causes: causes)
    }
}
