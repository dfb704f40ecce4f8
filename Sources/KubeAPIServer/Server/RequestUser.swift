import KubeModel

/// The user a request acts as. The embedded server authenticates nobody (every client is the
/// cluster admin) but honours impersonation as the API server does: `Impersonate-User`,
/// `Impersonate-Group` and `Impersonate-Extra-<key>` name the user admission sees. A mesh
/// proxy's stamp travels in those extras.
struct RequestUser: Sendable, Equatable {
    var username: String
    var groups: [String]
    var extra: [String: [String]]

    static let admin = RequestUser(username: "system:admin", groups: ["system:masters", "system:authenticated"], extra: [:])

    /// The user of a request as its headers say; impersonation headers without a user are
    /// refused, as the API server refuses them.
    static func of<Headers: Sequence>(headers: Headers) throws(StatusError) -> RequestUser where Headers.Element == (name: String, value: String) {
        var user: String?
        var groups: [String] = []
        var impersonates = false
        for (name, value) in headers {
            switch name.lowercased() {
            case "impersonate-user":
                if user != nil { throw StatusError.badRequest("Impersonate-User may be given once") }
                user = value
            case "impersonate-group": groups.append(value); impersonates = true
            case let lower where lower.hasPrefix("impersonate-"): impersonates = true
            default: continue
            }
        }
        let extra = WriterStamp.extras(ofHeaders: headers)
        guard let user else {
            if impersonates { throw StatusError.badRequest("requested impersonation of groups, extras or a uid without impersonating a user") }
            return .admin
        }
        if groups.isEmpty, user.hasPrefix("system:serviceaccount:") {
            // As the API server does for an impersonated service account.
            let namespace = user.split(separator: ":", omittingEmptySubsequences: false).dropFirst(2).first.map(String.init) ?? ""
            groups = ["system:serviceaccounts", "system:serviceaccounts:\(namespace)"]
        }
        if !groups.contains("system:authenticated") { groups.append("system:authenticated") }
        return RequestUser(username: user, groups: groups, extra: extra)
    }

    var json: JSON {
        var object: JSON = ["username": .string(username), "groups": .array(groups.map { .string($0) })]
        if !extra.isEmpty {
            var extras = JSONObject()
            for key in extra.keys.sorted() { extras[key] = .array(extra[key]!.map { .string($0) }) }
            object.setValue(.object(extras), at: ["extra"])
        }
        return object
    }

    /// The user of the request being served (the admin outside a request).
    @TaskLocal static var current = RequestUser.admin
}
