import KubeModel

/// A delete pinned to the object the proxy judged: the client's DeleteOptions (JSON or
/// protobuf), decoded strictly, with `preconditions.uid` set to the judged uid, sent on as
/// JSON. The API server then deletes that object or nothing, never a namesake created between
/// the judgement and the delete.
public enum DeletePin {
    public static func pinned(contentType: String?, body: [UInt8], uid: String) -> Result<[UInt8], StatusError> {
        DeleteOptions.decode(contentType: contentType, body: body).flatMap { decoded in
            var options = decoded
            if let named = options["preconditions"]?["uid"]?.stringValue, named != uid {
                // The client named another object than the one judged: the API server would
                // delete that one if it is there now.
                return .failure(StatusError(code: 409, reason: .conflict,
                                            message: "Precondition failed: UID in precondition: \(named), UID of the object judged: \(uid)"))
            }
            options["kind"] = "DeleteOptions"
            if options["apiVersion"] == nil || options["apiVersion"]?.isNull == true { options["apiVersion"] = "v1" }
            options.setValue(.string(uid), at: ["preconditions", "uid"])
            return .success(options.serialized())
        }
    }
}
