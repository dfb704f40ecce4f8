/// A Kubernetes API error, rendered on the wire as a `Status` object with `status: Failure`.
public struct StatusError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case notFound = "NotFound"
        case alreadyExists = "AlreadyExists"
        case conflict = "Conflict"
        case invalid = "Invalid"
        case expired = "Expired"
        case gone = "Gone"
        case badRequest = "BadRequest"
        case forbidden = "Forbidden"
        case unauthorized = "Unauthorized"
        case methodNotAllowed = "MethodNotAllowed"
        case unsupportedMediaType = "UnsupportedMediaType"
        case notAcceptable = "NotAcceptable"
        case requestEntityTooLarge = "RequestEntityTooLarge"
        case tooManyRequests = "TooManyRequests"
        case timeout = "Timeout"
        case internalError = "InternalError"
        case serviceUnavailable = "ServiceUnavailable"
    }

    public struct Cause: Sendable, Equatable {
        public var reason: String
        public var message: String
        public var field: String

        public init(reason: String, message: String, field: String) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }

    public var code: Int
    public var reason: Reason
    public var message: String
    public var name: String?
    public var group: String?
    /// The resource (plural), as Kubernetes puts it in `details.kind`.
    public var kind: String?
    public var causes: [Cause]
    public var retryAfterSeconds: Int?

    public init(code: Int, reason: Reason, message: String, name: String? = nil, group: String? = nil,
                kind: String? = nil, causes: [Cause] = [], retryAfterSeconds: Int? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code) \(reason.rawValue): \(message)" }

    /// `pods "x"` or `deployments.apps "x"`, as the API server names an object in messages.
    static func qualified(_ gr: GroupResource, _ name: String) -> String {
        "\(gr.description) \"\(name)\""
    }

    public static func notFound(_ gr: GroupResource, _ name: String) -> StatusError {
        StatusError(code: 404, reason: .notFound, message: "\(qualified(gr, name)) not found",
                    name: name, group: gr.group, kind: gr.resource)
    }

    public static func alreadyExists(_ gr: GroupResource, _ name: String) -> StatusError {
        StatusError(code: 409, reason: .alreadyExists, message: "\(qualified(gr, name)) already exists",
                    name: name, group: gr.group, kind: gr.resource)
    }

    public static func conflict(_ gr: GroupResource, _ name: String, _ detail: String) -> StatusError {
        StatusError(code: 409, reason: .conflict, message: "Operation cannot be fulfilled on \(qualified(gr, name)): \(detail)",
                    name: name, group: gr.group, kind: gr.resource)
    }

    public static func staleResourceVersion(_ gr: GroupResource, _ name: String) -> StatusError {
        conflict(gr, name, "the object has been modified; please apply your changes to the latest version and try again")
    }

    /// 422 with the field-level causes; `kind` is the object's Kind as Kubernetes does for Invalid.
    public static func invalid(kind: String, group: String, name: String, causes: [Cause]) -> StatusError {
        let list = causes.map { "\($0.field): \($0.message)" }.joined(separator: ", ")
        let qualifiedKind = group.isEmpty ? kind : "\(kind).\(group)"
        return StatusError(code: 422, reason: .invalid, message: "\(qualifiedKind) \"\(name)\" is invalid: \(list)",
                           name: name, group: group, kind: kind, causes: causes)
    }

    public static func badRequest(_ message: String) -> StatusError {
        StatusError(code: 400, reason: .badRequest, message: message)
    }

    public static func expired(_ message: String) -> StatusError {
        StatusError(code: 410, reason: .expired, message: message)
    }

    public static func forbidden(_ message: String) -> StatusError {
        StatusError(code: 403, reason: .forbidden, message: message)
    }

    public static func methodNotAllowed(_ message: String) -> StatusError {
        StatusError(code: 405, reason: .methodNotAllowed, message: message)
    }

    public static func unsupportedMediaType(_ contentType: String) -> StatusError {
        StatusError(code: 415, reason: .unsupportedMediaType, message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got \(contentType))")
    }

    public static func tooLarge(limit: Int) -> StatusError {
        StatusError(code: 413, reason: .requestEntityTooLarge, message: "Request entity too large: limit is \(limit)")
    }

    public static func internalError(_ message: String) -> StatusError {
        StatusError(code: 500, reason: .internalError, message: "Internal error occurred: \(message)")
    }

    public static func timeout(_ message: String) -> StatusError {
        StatusError(code: 504, reason: .timeout, message: message)
    }

    /// The `Status` object as the API server sends it.
    public var statusObject: JSON {
        var status: JSON = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason.rawValue),
        ]
        var details = JSONObject()
        if let name { details["name"] = .string(name) }
        if let group, !group.isEmpty { details["group"] = .string(group) }
        if let kind { details["kind"] = .string(kind) }
        if !causes.isEmpty {
            details["causes"] = .array(causes.map { ["reason": .string($0.reason), "message": .string($0.message), "field": .string($0.field)] })
        }
        if let retryAfterSeconds { details["retryAfterSeconds"] = .int(retryAfterSeconds) }
        if !details.isEmpty { status["details"] = .object(details) }
        status["code"] = .int(code)
        return status
    }

    /// The JSON watch event that carries this Status (`{"type":"ERROR","object":…}` and a
    /// newline), as a watch stream ends with it.
    public var watchErrorEvent: [UInt8] {
        let event: JSON = ["type": "ERROR", "object": statusObject]
        return event.serialized() + [UInt8(ascii: "\n")]
    }

    /// Reads a `Status` object back (clients, webhooks).
    public init?(statusObject: JSON) {
        guard statusObject.kind == "Status", let code = statusObject["code"]?.intValue else { return nil }
        self.code = Int(code)
        self.reason = Reason(rawValue: statusObject["reason"]?.stringValue ?? "") ?? .internalError
        self.message = statusObject["message"]?.stringValue ?? ""
        self.name = statusObject["details"]?["name"]?.stringValue
        self.group = statusObject["details"]?["group"]?.stringValue
        self.kind = statusObject["details"]?["kind"]?.stringValue
        self.causes = []
        self.retryAfterSeconds = nil
    }
}
