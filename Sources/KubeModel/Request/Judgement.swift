/// How a mesh proxy classified a request it forwards, carried upstream in `X-Ctrlmesh-Judged`
/// when the proxy runs with `--stamp-judgements`. The embedded API server (with
/// `--check-judgements`) compares it with its own routing of the request it received: the two
/// must agree for every request the proxy lets through, or the proxy judged one request and
/// the server served another.
public enum Judgement: Sendable, Equatable {
    case resource(RequestInfo)
    case nonResource(path: String)

    public static let header = "x-ctrlmesh-judged"

    /// `resource <verb> <group> <version> <resource> <namespace> <name> <subresource>`, each
    /// field percent-encoded (a field that is `-` itself as `%2D`), `-` when absent and `%`
    /// when empty; or `nonresource <path>`.
    public var text: String {
        switch self {
        case .nonResource(let path):
            return "nonresource " + path
        case .resource(let info):
            let fields = [info.verb.rawValue, info.group, info.version, info.resource, info.namespace, info.name, info.subresource]
            return "resource " + fields.map { field in
                switch field {
                case nil: "-"
                case ""?: "%"
                case "-"?: "%2D"
                case let value?: PercentEncoding.encode(value)
                }
            }.joined(separator: " ")
        }
    }

    public init?(text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "nonresource" where parts.count == 2:
            self = .nonResource(path: parts[1])
        case "resource" where parts.count == 8:
            func field(_ index: Int) -> String? {
                let raw = parts[index]
                if raw == "-" { return nil }
                if raw == "%" { return "" }
                return try? PercentEncoding.decode(Array(raw.utf8), plusIsSpace: false)
            }
            guard let verbText = field(1), let verb = RequestInfo.Verb(rawValue: verbText), let group = field(2),
                  let version = field(3), let resource = field(4) else { return nil }
            self = .resource(RequestInfo(verb: verb, group: group, version: version, resource: resource, subresource: field(7),
                                         namespace: field(5), name: field(6)))
        default:
            return nil
        }
    }
}

extension RequestInfo {
    /// The same coordinates with another verb and subresource: what the proxy's own reads of
    /// an object (to judge it) or of a collection (to delete from it) are.
    public func with(verb: Verb, name: String? = nil, namespace: String? = nil, subresource: String? = nil) -> RequestInfo {
        RequestInfo(verb: verb, group: group, version: version, resource: resource, subresource: subresource,
                    namespace: namespace ?? self.namespace, name: name ?? self.name)
    }
}
