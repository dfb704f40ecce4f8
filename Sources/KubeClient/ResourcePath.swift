import KubeModel

/// Builds request targets for a resource: `/api/v1/...` for the core group, `/apis/G/V/...`
/// otherwise, with the namespace, name and subresource segments and an encoded query.
public struct ResourcePath: Sendable {
    public var resource: GroupVersionResource
    public var namespace: String?
    public var name: String?
    public var subresource: String?
    public var query: [(String, String)] = []

    public init(_ resource: GroupVersionResource, namespace: String? = nil, name: String? = nil, subresource: String? = nil) {
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
    }

    public var target: String {
        var path = resource.group.isEmpty ? "/api/\(resource.version)" : "/apis/\(resource.group)/\(resource.version)"
        if let namespace, !namespace.isEmpty { path += "/namespaces/\(Self.escape(namespace))" }
        path += "/\(resource.resource)"
        if let name { path += "/\(Self.escape(name))" }
        if let subresource { path += "/\(subresource)" }
        if !query.isEmpty {
            path += "?" + query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        return path
    }

    public mutating func add(_ key: String, _ value: String?) {
        if let value, !value.isEmpty { query.append((key, value)) }
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 0xF)])"
            }
        }
        return out
    }
}
