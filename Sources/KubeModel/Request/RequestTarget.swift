/// An HTTP request-target parsed once, strictly: the decoded path segments and the query.
///
/// Only origin-form (`/path?query`) is accepted. A target with a fragment, a byte outside
/// visible ASCII, a malformed percent escape, invalid UTF-8, an empty segment (`//`), a dot
/// segment (`.`, `..`, also when encoded) or an encoded `/` inside a segment is refused: each of them is read one way here and another way by some server
/// behind us. `encoded` writes the target back from what was parsed, so whatever forwards a
/// request sends exactly what was judged, never the client's bytes.
public struct RequestTarget: Sendable, Equatable {
    /// The path's segments, percent-decoded; `/` is `[]`.
    public let segments: [String]
    public let query: QueryParameters

    public init(segments: [String], query: QueryParameters = QueryParameters()) {
        self.segments = segments
        self.query = query
    }

    public static func parse(_ raw: some StringProtocol) throws(RequestTargetError) -> RequestTarget {
        let bytes = Array(raw.utf8)
        guard bytes.first == UInt8(ascii: "/") else {
            throw RequestTargetError("the request target must be a path starting with '/' (origin-form)")
        }
        for byte in bytes where byte < 0x21 || byte > 0x7E || byte == UInt8(ascii: "#") {
            throw RequestTargetError(byte == UInt8(ascii: "#")
                ? "the request target must not carry a fragment ('#')"
                : "the request target holds a byte outside visible ASCII (0x\(String(byte, radix: 16))); percent-encode it")
        }
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?"))
        var pathBytes = bytes[1..<(queryStart ?? bytes.count)]
        // One trailing slash is dropped, as the API server trims it (the Python client asks for
        // `/version/`); the target is sent on without it.
        if pathBytes.last == UInt8(ascii: "/") { pathBytes = pathBytes.dropLast() }
        var segments: [String] = []
        if !pathBytes.isEmpty {
            for raw in pathBytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
                guard !raw.isEmpty else { throw RequestTargetError("the request path has an empty segment ('//')") }
                let segment = try PercentEncoding.decode(raw, plusIsSpace: false)
                if segment == "." || segment == ".." { throw RequestTargetError("the request path has a dot segment ('\(segment)')") }
                if segment.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 < 0x20 || $0 == 0x7F }) {
                    throw RequestTargetError("a request path segment decodes to '/' or a control character")
                }
                segments.append(segment)
            }
        }
        var query = QueryParameters()
        if let queryStart { query = try QueryParameters(parsing: bytes[(queryStart + 1)...]) }
        return RequestTarget(segments: segments, query: query)
    }

    /// The path, re-encoded.
    public var path: String { RequestTarget.path(segments) }

    /// Path and query, re-encoded: the target to send on.
    public var encoded: String {
        let query = query.encoded
        return query.isEmpty ? path : path + "?" + query
    }

    /// `/` followed by each segment percent-encoded (everything but RFC 3986's unreserved
    /// characters), joined with `/`.
    public static func path(_ segments: [String]) -> String {
        "/" + segments.map { PercentEncoding.encode($0) }.joined(separator: "/")
    }

    /// The same target with another query.
    public func with(query: QueryParameters) -> RequestTarget {
        RequestTarget(segments: segments, query: query)
    }
}

public struct RequestTargetError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Percent-encoding (RFC 3986 §2.1), strict both ways.
public enum PercentEncoding {
    /// Decodes `%XX` escapes (and `+` as a space in queries). A `%` not followed by two hex
    /// digits, or bytes that are not UTF-8, are errors: a lenient decoder and a strict one
    /// would read the same bytes as different names.
    public static func decode(_ raw: some Collection<UInt8>, plusIsSpace: Bool) throws(RequestTargetError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            index = raw.index(after: index)
            if byte == UInt8(ascii: "%") {
                guard index != raw.endIndex, let high = hexValue(raw[index]) else { throw RequestTargetError("malformed percent escape") }
                index = raw.index(after: index)
                guard index != raw.endIndex, let low = hexValue(raw[index]) else { throw RequestTargetError("malformed percent escape") }
                index = raw.index(after: index)
                bytes.append(high << 4 | low)
            } else if plusIsSpace, byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw RequestTargetError("a percent-decoded value is not UTF-8") }
        return text
    }

    /// Encodes every byte outside `A-Z a-z 0-9 - . _ ~`.
    public static func encode(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
