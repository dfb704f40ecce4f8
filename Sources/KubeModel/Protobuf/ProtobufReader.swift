/// Reads protobuf wire format: varints, fixed-width and length-delimited fields.
public struct ProtobufReader {
    public enum WireValue {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    public struct Malformed: Error {}

    public var bytes: ArraySlice<UInt8>

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    public var atEnd: Bool { bytes.isEmpty }

    public mutating func varint() throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let b = bytes.first {
            bytes = bytes.dropFirst()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift >= 64 { throw Malformed() }
        }
        throw Malformed()
    }

    public mutating func fixed(_ count: Int) throws(Malformed) -> UInt64 {
        guard bytes.count >= count else { throw Malformed() }
        var value: UInt64 = 0
        for (i, b) in bytes.prefix(count).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        bytes = bytes.dropFirst(count)
        return value
    }

    /// The next field number and its value.
    public mutating func field() throws(Malformed) -> (number: Int, value: WireValue) {
        let key = try varint()
        let number = Int(key >> 3)
        switch key & 7 {
        case 0: return (number, .varint(try varint()))
        case 1: return (number, .fixed64(try fixed(8)))
        case 2:
            // A length past Int.max (found by fuzzing) is malformed, not a trap.
            guard let length = Int(exactly: try varint()), bytes.count >= length else { throw Malformed() }
            let value = bytes.prefix(length)
            bytes = bytes.dropFirst(length)
            return (number, .bytes(value))
        case 5: return (number, .fixed32(UInt32(try fixed(4))))
        default: throw Malformed()
        }
    }
}
