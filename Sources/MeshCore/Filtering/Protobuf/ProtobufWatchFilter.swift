import KubeModel

/// Filters a protobuf watch stream: frames of a 4-byte big-endian length and a
/// metav1.WatchEvent (type 1, object 2 = RawExtension whose raw, field 1, is an enveloped
/// object). Dropped events become BOOKMARK frames as in `JSONWatchFilter`.
public struct ProtobufWatchFilter: Sendable {
    var judge: WatchEventJudge
    let maxEventBytes: Int
    var buffer: [UInt8] = []

    /// The resourceVersion of the last event (or bookmark) passed on.
    public var lastDeliveredResourceVersion: String? { judge.lastDeliveredResourceVersion }
    public var kept: Int { judge.kept }
    public var dropped: Int { judge.dropped }

    public init(bookmarks: Bool, maxEventBytes: Int = 64 << 20, keep: @escaping @Sendable (ObjectIdentity) -> Bool) {
        self.judge = WatchEventJudge(bookmarks: bookmarks, keep: keep)
        self.maxEventBytes = maxEventBytes
    }

    public var atEventBoundary: Bool { buffer.isEmpty }

    public mutating func consume(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FilterError) {
        buffer.append(contentsOf: chunk.bindMemory(to: UInt8.self))
        var position = 0
        defer { buffer.removeFirst(position) }
        while buffer.count - position >= 4 {
            let length = buffer[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
            if length > maxEventBytes { throw FilterError.tooLarge(maxEventBytes) }
            let end = position + 4 + length
            guard buffer.count >= end else { break }
            let (type, identity) = try ProtobufWatchFilter.event(buffer[(position + 4)..<end])
            if judge.passes(type: type, identity: identity) {
                output.append(contentsOf: buffer[position..<end])
            }
            position = end
        }
        if let bookmark = judge.takeBookmark() {
            output.append(contentsOf: ProtobufWatchFilter.bookmarkFrame(for: bookmark))
        }
    }

    static func event(_ bytes: ArraySlice<UInt8>) throws(FilterError) -> (String, ObjectIdentity) {
        var type = ""
        var identity = ObjectIdentity()
        do {
            var reader = ProtobufReader(bytes)
            while !reader.atEnd {
                let (number, value) = try reader.field()
                guard case .bytes(let payload) = value else { continue }
                if number == 1 { type = String(decoding: payload, as: UTF8.self) }
                if number == 2 {
                    var raw = ProtobufReader(payload)
                    while !raw.atEnd {
                        let (n, v) = try raw.field()
                        if n == 1, case .bytes(let object) = v { identity = try ProtobufIdentityReader.envelope(object) }
                    }
                }
            }
        } catch let error as FilterError {
            throw error
        } catch {
            throw FilterError.malformed("invalid protobuf watch event", offset: bytes.startIndex)
        }
        return (type, identity)
    }

    /// An ERROR frame carrying a v1 Status (status 2, message 3, reason 4, code 6).
    public static func errorFrame(code: Int, reason: String, message: String) -> [UInt8] {
        let status = ProtobufWriter.field(1, [UInt8]()) + ProtobufWriter.field(2, "Failure") + ProtobufWriter.field(3, message)
            + ProtobufWriter.field(4, reason) + ProtobufWriter.varint(6 << 3) + ProtobufWriter.varint(UInt64(code))
        let typeMeta = ProtobufWriter.field(1, "v1") + ProtobufWriter.field(2, "Status")
        return frame(type: "ERROR", envelope: KubernetesProtobuf.magic + ProtobufWriter.field(1, typeMeta) + ProtobufWriter.field(2, status))
    }

    static func frame(type: String, envelope: [UInt8]) -> [UInt8] {
        let event = ProtobufWriter.field(1, type) + ProtobufWriter.field(2, ProtobufWriter.field(1, envelope))
        let n = event.count
        return [UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8),
                UInt8(truncatingIfNeeded: n)] + event
    }

    /// A BOOKMARK frame for the identity's kind carrying only its resourceVersion.
    public static func bookmarkFrame(for identity: ObjectIdentity) -> [UInt8] {
        let meta = ProtobufWriter.field(6, identity.resourceVersion)
        let object = ProtobufWriter.field(1, meta)
        let typeMeta = ProtobufWriter.field(1, identity.apiVersion) + ProtobufWriter.field(2, identity.kind)
        return frame(type: "BOOKMARK", envelope: KubernetesProtobuf.magic + ProtobufWriter.field(1, typeMeta) + ProtobufWriter.field(2, object))
    }
}

/// Writes length-delimited protobuf fields.
enum ProtobufWriter {
    static func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] {
        varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
    }

    static func field(_ number: Int, _ text: String) -> [UInt8] {
        field(number, Array(text.utf8))
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }
}
