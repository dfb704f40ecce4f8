/// What a request asks for, parsed once from method, path and query (as the API server's
/// RequestInfo): the verb and the resource coordinates, or a non-resource path.
public struct RequestInfo: Sendable, Equatable {
    public enum Verb: String, Sendable {
        case get, list, watch, create, update, patch, delete, deletecollection
    }

    public var verb: Verb
    public var group: String
    public var version: String
    public var resource: String
    public var subresource: String?
    public var namespace: String?
    public var name: String?

    public var groupResource: GroupResource { GroupResource(group: group, resource: resource) }

    /// The path of one object of this request's resource (no subresource).
    public func objectPath(namespace: String?, name: String) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if let namespace { path += "/namespaces/\(namespace)" }
        return path + "/\(resource)/\(name)"
    }

    /// Parses `/api/v1/...` and `/apis/G/V/...`; nil for anything else (discovery, health).
    public static func parse(method: String, path: Substring, query: QueryParameters) -> RequestInfo? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecode($0) }
        let group: String
        let version: String
        if parts.first == "api", parts.count >= 2 {
            group = ""
            version = parts[1]
            parts.removeFirst(2)
        } else if parts.first == "apis", parts.count >= 3 {
            group = parts[1]
            version = parts[2]
            parts.removeFirst(3)
        } else {
            return nil
        }
        guard !parts.isEmpty else { return nil }
        var legacyWatch = false
        if parts[0] == "watch" {
            legacyWatch = true
            parts.removeFirst()
            guard !parts.isEmpty else { return nil }
        }
        var namespace: String?
        if parts[0] == "namespaces", parts.count > 1 {
            namespace = parts[1]
            if parts.count > 2, parts[2] != "status", parts[2] != "finalize" {
                parts.removeFirst(2)
            }
        }
        let resource = parts[0]
        let name = parts.count > 1 ? parts[1] : nil
        let subresource = parts.count > 2 ? parts[2] : nil
        guard parts.count <= 3 else { return nil }
        if resource == "namespaces" { namespace = nil }

        let verb: Verb
        switch method {
        case "GET", "HEAD":
            if legacyWatch || query.bool("watch") {
                verb = .watch
            } else {
                verb = name == nil ? .list : .get
            }
        case "POST": verb = .create
        case "PUT": verb = .update
        case "PATCH": verb = .patch
        case "DELETE": verb = name == nil ? .deletecollection : .delete
        default: return nil
        }
        return RequestInfo(verb: verb, group: group, version: version, resource: resource, subresource: subresource,
                           namespace: namespace, name: name)
    }
}

func percentDecode<S: StringProtocol>(_ s: S, plusIsSpace: Bool = false) -> String {
    guard s.contains("%") || (plusIsSpace && s.contains("+")) else { return String(s) }
    var bytes: [UInt8] = []
    var utf8 = Array(s.utf8)[...]
    while let b = utf8.first {
        utf8 = utf8.dropFirst()
        if b == UInt8(ascii: "%"), utf8.count >= 2,
           let v = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
            bytes.append(v)
            utf8 = utf8.dropFirst(2)
        } else if plusIsSpace, b == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(b)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
