import MeshCore
import NIOCore

/// One of the streaming filters, chosen by verb and content type, behind one interface.
enum BodyFilter: Sendable {
    case jsonList(JSONListFilter)
    case protobufList(ProtobufListFilter)
    case jsonWatch(JSONWatchFilter)
    case protobufWatch(ProtobufWatchFilter)

    typealias Format = BodyFormat

    /// The wire format of a response content type, nil when the proxy cannot filter it.
    static func format(contentType: String?) -> Format? { BodyFormat(contentType: contentType) }

    static func list(_ format: Format, fields: ObjectIdentity.Fields, trustsServerShardInfo: Bool,
                     keep: @escaping @Sendable (ObjectIdentity) -> Bool) -> BodyFilter {
        format == .json ? .jsonList(JSONListFilter(fields: fields, trustsServerShardInfo: trustsServerShardInfo, keep: keep))
            : .protobufList(ProtobufListFilter(keep: keep))
    }

    static func watch(_ format: Format, bookmarks: Bool, keep: @escaping @Sendable (ObjectIdentity) -> Bool) -> BodyFilter {
        format == .json ? .jsonWatch(JSONWatchFilter(bookmarks: bookmarks, keep: keep))
            : .protobufWatch(ProtobufWatchFilter(bookmarks: bookmarks, keep: keep))
    }

    mutating func consume(_ buffer: ByteBuffer, into output: inout [UInt8]) throws(FilterError) {
        try buffer.readableBytesView.withUnsafeBytes { (chunk) throws(FilterError) in
            switch self {
            case .jsonList(var f): try f.consume(chunk, into: &output); self = .jsonList(f)
            case .protobufList(var f): try f.consume(chunk, into: &output); self = .protobufList(f)
            case .jsonWatch(var f): try f.consume(chunk, into: &output); self = .jsonWatch(f)
            case .protobufWatch(var f): try f.consume(chunk, into: &output); self = .protobufWatch(f)
            }
        }
    }

    /// Checks the body ended where it may end.
    func finish() throws(FilterError) {
        switch self {
        case .jsonList(let f): try f.finish()
        case .protobufList(let f): try f.finish()
        case .jsonWatch(let f): if !f.atEventBoundary { throw FilterError.truncated }
        case .protobufWatch(let f): if !f.atEventBoundary { throw FilterError.truncated }
        }
    }

    var counts: (kept: Int, dropped: Int) {
        switch self {
        case .jsonList(let f): (f.kept, f.dropped)
        case .protobufList(let f): (f.kept, f.dropped)
        case .jsonWatch(let f): (f.kept, f.dropped)
        case .protobufWatch(let f): (f.kept, f.dropped)
        }
    }

    /// A list's resourceVersion and continue token, once seen.
    var listMeta: (resourceVersion: String?, continueToken: String?) {
        switch self {
        case .jsonList(let f): (f.listResourceVersion, f.continueToken)
        case .protobufList(let f): (f.listResourceVersion, f.continueToken)
        default: (nil, nil)
        }
    }

    var lastDeliveredResourceVersion: String? {
        switch self {
        case .jsonWatch(let f): f.lastDeliveredResourceVersion
        case .protobufWatch(let f): f.lastDeliveredResourceVersion
        default: nil
        }
    }

    var isWatch: Bool {
        switch self {
        case .jsonWatch, .protobufWatch: true
        default: false
        }
    }
}
