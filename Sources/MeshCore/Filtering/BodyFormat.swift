/// The two wire formats the proxy reads and filters, by media type (parameters such as
/// `charset` or `stream=watch` aside).
public enum BodyFormat: Sendable {
    case json
    case protobuf

    /// nil when the proxy cannot read the type.
    public init?(contentType: String?) {
        guard let contentType else { return nil }
        switch BodyFormat.mediaType(contentType) {
        case "application/json": self = .json
        case "application/vnd.kubernetes.protobuf": self = .protobuf
        default: return nil
        }
    }

    /// The media type alone, lowercased: `application/json; charset=utf-8` is `application/json`.
    public static func mediaType(_ contentType: String) -> String {
        var type = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        while type.first == " " || type.first == "\t" { type = type.dropFirst() }
        while type.last == " " || type.last == "\t" { type = type.dropLast() }
        return type.lowercased()
    }
}
