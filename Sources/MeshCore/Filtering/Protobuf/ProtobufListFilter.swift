import KubeModel

/// Filters a protobuf list body (`k8s\0` + runtime.Unknown whose `raw`, field 2, is the List:
/// ListMeta 1, items 2) while it streams, holding at most one item.
///
/// The envelope states the list's length before the items, so dropping bytes would need the
/// whole list first. Instead a dropped item keeps its length but becomes field 15 filled with
/// zero bytes: protobuf decoders (client-go's generated code included) skip unknown fields,
/// none of the dropped object's bytes leave the proxy, and every length — the Content-Length
/// too — stays valid.
public struct ProtobufListFilter: Sendable {
    enum Stage {
        case magic
        /// runtime.Unknown fields, up to the end of the body.
        case envelope
        /// Inside Unknown.raw: the List message's fields, `remaining` bytes left.
        case list(remaining: Int)
    }

    /// Tag of field 15, length-delimited: one byte, like the items' tag (field 2).
    static let paddingTag: UInt8 = 15 << 3 | 2
    static let itemTag: UInt8 = 2 << 3 | 2

    let keep: @Sendable (ObjectIdentity) -> Bool
    let maxItemBytes: Int
    var stage = Stage.magic
    var buffer: [UInt8] = []

    /// ListMeta's resourceVersion (2) and continue (3), once they have streamed past.
    public private(set) var listResourceVersion: String?
    public private(set) var continueToken: String?

    public private(set) var kept = 0
    public private(set) var dropped = 0

    public init(maxItemBytes: Int = 64 << 20, keep: @escaping @Sendable (ObjectIdentity) -> Bool) {
        self.keep = keep
        self.maxItemBytes = maxItemBytes
    }

    public mutating func consume(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FilterError) {
        buffer.append(contentsOf: chunk.bindMemory(to: UInt8.self))
        var position = 0
        defer { buffer.removeFirst(position) }
        while true {
            switch stage {
            case .magic:
                guard buffer.count - position >= 4 else { return }
                guard buffer[position..<position + 4].elementsEqual(KubernetesProtobuf.magic) else {
                    throw FilterError.malformed("protobuf body without the k8s envelope", offset: position)
                }
                output.append(contentsOf: buffer[position..<position + 4])
                position += 4
                stage = .envelope
            case .envelope:
                guard let header = try fieldHeader(at: position) else { return }
                if header.number == 2, let length = header.length {
                    // Unknown.raw: copy its header and descend into the List.
                    output.append(contentsOf: buffer[position..<header.bodyStart])
                    position = header.bodyStart
                    stage = .list(remaining: length)
                } else {
                    guard buffer.count >= header.end else { return }
                    output.append(contentsOf: buffer[position..<header.end])
                    position = header.end
                }
            case .list(let remaining):
                if remaining == 0 {
                    stage = .envelope
                    continue
                }
                guard let header = try fieldHeader(at: position) else { return }
                let size = header.end - position
                guard size <= remaining else { throw FilterError.malformed("list field overruns the envelope", offset: position) }
                if size > maxItemBytes { throw FilterError.tooLarge(maxItemBytes) }
                guard buffer.count >= header.end else { return }
                if header.number == 2, buffer[position] == ProtobufListFilter.itemTag {
                    let identity = try ProtobufIdentityReader.object(buffer[header.bodyStart..<header.end])
                    if keep(identity) {
                        output.append(contentsOf: buffer[position..<header.end])
                        kept += 1
                    } else {
                        output.append(ProtobufListFilter.paddingTag)
                        output.append(contentsOf: buffer[(position + 1)..<header.bodyStart])
                        output.append(contentsOf: repeatElement(0, count: header.end - header.bodyStart))
                        dropped += 1
                    }
                } else {
                    if header.number == 1 { readListMeta(buffer[header.bodyStart..<header.end]) }
                    output.append(contentsOf: buffer[position..<header.end])
                }
                position = header.end
                stage = .list(remaining: remaining - size)
            }
        }
    }

    /// Checks that the body ended at a field boundary of the envelope.
    public func finish() throws(FilterError) {
        guard case .envelope = stage, buffer.isEmpty else { throw FilterError.truncated }
    }

    mutating func readListMeta(_ bytes: ArraySlice<UInt8>) {
        var reader = ProtobufReader(bytes)
        while !reader.atEnd, let (number, value) = try? reader.field() {
            guard case .bytes(let text) = value else { continue }
            if number == 2 { listResourceVersion = String(decoding: text, as: UTF8.self) }
            if number == 3 { continueToken = String(decoding: text, as: UTF8.self) }
        }
    }

    struct FieldHeader {
        var number: Int
        /// Length of a length-delimited field's body.
        var length: Int?
        var bodyStart: Int
        var end: Int
    }

    /// The field starting at `position`, nil when its header is not complete yet.
    func fieldHeader(at position: Int) throws(FilterError) -> FieldHeader? {
        var index = position
        guard let key = try varint(&index) else { return nil }
        let number = Int(key >> 3)
        guard number > 0 else { throw FilterError.malformed("field number 0", offset: position) }
        switch key & 7 {
        case 0:
            guard try varint(&index) != nil else { return nil }
            return FieldHeader(number: number, bodyStart: index, end: index)
        case 1: return FieldHeader(number: number, bodyStart: index, end: index + 8)
        case 5: return FieldHeader(number: number, bodyStart: index, end: index + 4)
        case 2:
            guard let length = try varint(&index) else { return nil }
            guard length <= UInt64(Int32.max) else { throw FilterError.malformed("field length too large", offset: position) }
            return FieldHeader(number: number, length: Int(length), bodyStart: index, end: index + Int(length))
        default:
            throw FilterError.malformed("unsupported wire type \(key & 7)", offset: position)
        }
    }

    /// A varint at `index` (advanced past it), nil when the buffer ends inside it.
    func varint(_ index: inout Int) throws(FilterError) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = index
        while i < buffer.count {
            let b = buffer[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                index = i
                return result
            }
            shift += 7
            if shift >= 64 { throw FilterError.malformed("varint too long", offset: index) }
        }
        return nil
    }
}
