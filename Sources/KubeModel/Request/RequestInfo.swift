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

    /// The path of one object of this request's resource (no subresource), encoded.
    public func objectPath(namespace: String?, name: String) -> String {
        RequestTarget.path(collectionSegments(namespace: namespace) + [name])
    }

    /// The path of this request's collection in `namespace` (all namespaces when nil), encoded:
    /// never the legacy `/watch/` form, whatever the request came as.
    public func collectionPath(namespace: String?) -> String {
        RequestTarget.path(collectionSegments(namespace: namespace))
    }

    func collectionSegments(namespace: String?) -> [String] {
        var segments = group.isEmpty ? ["api", version] : ["apis", group, version]
        if let namespace { segments += ["namespaces", namespace] }
        return segments + [resource]
    }

    /// Classifies `/api/v1/...` and `/apis/G/V/...` as the API server's RequestInfoFactory does;
    /// nil for anything else (discovery, health) and for resource paths with more than
    /// resource, name and subresource. `watch=true` makes a collection GET a watch; a GET of
    /// one object stays a get (a single object is watched through the legacy `/watch/` path).
    /// Only GET reads: the API server routes no other method to a read, nor anything but GET
    /// to a `/watch/` path (`methodNotAllowed` tells those apart from paths it does not serve).
    public static func classify(method: String, target: RequestTarget) -> RequestInfo? {
        var parts = target.segments[...]
        let group: String
        let version: String
        if parts.first == "api", parts.count >= 2 {
            group = ""
            version = parts[parts.startIndex + 1]
            parts = parts.dropFirst(2)
        } else if parts.first == "apis", parts.count >= 3 {
            group = parts[parts.startIndex + 1]
            version = parts[parts.startIndex + 2]
            parts = parts.dropFirst(3)
        } else {
            return nil
        }
        guard !parts.isEmpty else { return nil }
        var legacyWatch = false
        if parts.first == "watch" {
            legacyWatch = true
            parts = parts.dropFirst()
            guard !parts.isEmpty else { return nil }
        }
        var namespace: String?
        if parts.first == "namespaces", parts.count > 1 {
            namespace = parts[parts.startIndex + 1]
            if parts.count > 2, parts[parts.startIndex + 2] != "status", parts[parts.startIndex + 2] != "finalize" {
                parts = parts.dropFirst(2)
            }
        }
        guard parts.count <= 3 else { return nil }
        let resource = parts[parts.startIndex]
        let name = parts.count > 1 ? parts[parts.startIndex + 1] : nil
        let subresource = parts.count > 2 ? parts[parts.startIndex + 2] : nil
        if resource == "namespaces" { namespace = nil }

        let verb: Verb
        switch method {
        case "GET":
            if legacyWatch || (name == nil && target.query.bool("watch")) {
                verb = .watch
            } else {
                verb = name == nil ? .list : .get
            }
        case _ where legacyWatch: return nil
        case "POST": verb = .create
        case "PUT": verb = .update
        case "PATCH": verb = .patch
        case "DELETE": verb = name == nil ? .deletecollection : .delete
        default: return nil
        }
        return RequestInfo(verb: verb, group: group, version: version, resource: resource, subresource: subresource,
                           namespace: namespace, name: name)
    }

    /// A resource path asked for with a method the API server has no route for there (HEAD,
    /// OPTIONS, a write to a `/watch/` path…): its answer is 405, not 404.
    public static func methodNotAllowed(method: String, target: RequestTarget) -> Bool {
        classify(method: method, target: target) == nil && classify(method: "GET", target: target) != nil
    }

    /// Classifies a raw target; nil when it does not parse or classify.
    public static func classify(method: String, target: String) -> RequestInfo? {
        (try? RequestTarget.parse(target)).flatMap { classify(method: method, target: $0) }
    }
}
