/// A cursor over the bytes of one complete JSON value that reads only what it is asked for
/// and skips everything else without building values: the filters' way to find the few
/// metadata fields in an object of any size.
struct JSONByteScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func peek() throws(FilterError) -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw FilterError.truncated }
        return bytes[position]
    }

    mutating func expect(_ byte: UInt8) throws(FilterError) {
        guard try peek() == byte else { throw FilterError.malformed("expected '\(Character(Unicode.Scalar(byte)))'", offset: position) }
        position += 1
    }

    /// Calls `body` with each key of the object at the cursor, the cursor on its value. The
    /// body must consume the value (read or skip it).
    mutating func forEachMember(_ body: (inout JSONByteScanner, JSONKey) throws(FilterError) -> Void) throws(FilterError) {
        try forEachMemberUntil({ (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) -> Bool in
            try body(&s, key)
            return false
        })
    }

    /// As `forEachMember`, but the body may return true to stop reading: the cursor is then
    /// left inside the object, so only a reader that needs nothing after it may stop.
    mutating func forEachMemberUntil(_ body: (inout JSONByteScanner, JSONKey) throws(FilterError) -> Bool) throws(FilterError) {
        try expect(UInt8(ascii: "{"))
        if try peek() == UInt8(ascii: "}") { position += 1; return }
        while true {
            let key = try readKey()
            try expect(UInt8(ascii: ":"))
            if try body(&self, key) { return }
            switch try peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return
            default: throw FilterError.malformed("expected ',' or '}' in object", offset: position)
            }
        }
    }

    /// Calls `body` with the cursor on each element of the array at the cursor.
    mutating func forEachElement(_ body: (inout JSONByteScanner) throws(FilterError) -> Void) throws(FilterError) {
        try expect(UInt8(ascii: "["))
        if try peek() == UInt8(ascii: "]") { position += 1; return }
        while true {
            try body(&self)
            switch try peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return
            default: throw FilterError.malformed("expected ',' or ']' in array", offset: position)
            }
        }
    }

    /// An object key, compared in place (no allocation unless it has escapes).
    mutating func readKey() throws(FilterError) -> JSONKey {
        guard try peek() == JSONByteScanner.quote else { throw FilterError.malformed("expected a string", offset: position) }
        position += 1
        let start = position
        position = JSONFraming.skipPlainStringBytes(bytes, from: position)
        guard position < bytes.count else { throw FilterError.truncated }
        if bytes[position] == JSONByteScanner.quote {
            defer { position += 1 }
            return JSONKey(raw: UnsafeBufferPointer(rebasing: bytes[start..<position]), unescaped: nil)
        }
        position = start - 1
        return JSONKey(raw: UnsafeBufferPointer(start: nil, count: 0), unescaped: try readString())
    }

    /// A string value, unescaped.
    mutating func readString() throws(FilterError) -> String {
        guard try peek() == JSONByteScanner.quote else { throw FilterError.malformed("expected a string", offset: position) }
        position += 1
        let start = position
        var hasEscape = false
        position = JSONFraming.skipPlainStringBytes(bytes, from: position)
        while position < bytes.count {
            let b = bytes[position]
            if b == JSONByteScanner.quote {
                defer { position += 1 }
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<position])
                return hasEscape ? try JSONByteScanner.unescape(raw, offset: start) : String(decoding: raw, as: UTF8.self)
            }
            if b == JSONByteScanner.backslash { hasEscape = true; position += 1 }
            position += 1
        }
        throw FilterError.truncated
    }

    /// A string, or nil for anything else (which is skipped).
    mutating func readOptionalString() throws(FilterError) -> String? {
        if try peek() == JSONByteScanner.quote { return try readString() }
        try skipValue()
        return nil
    }

    /// `true`, or false for anything else (which is skipped).
    mutating func readTrue() throws(FilterError) -> Bool {
        if try peek() == UInt8(ascii: "t") {
            guard position + 4 <= bytes.count else { throw FilterError.truncated }
            guard bytes[position + 1] == UInt8(ascii: "r"), bytes[position + 2] == UInt8(ascii: "u"),
                  bytes[position + 3] == UInt8(ascii: "e") else { throw FilterError.malformed("bad literal", offset: position) }
            position += 4
            return true
        }
        try skipValue()
        return false
    }

    /// Moves past one value of any type.
    mutating func skipValue() throws(FilterError) {
        let first = try peek()
        switch first {
        case JSONByteScanner.quote:
            position = JSONFraming.skipPlainStringBytes(bytes, from: position + 1)
            while position < bytes.count {
                let b = bytes[position]
                if b == JSONByteScanner.quote { position += 1; return }
                position += b == JSONByteScanner.backslash ? 2 : 1
            }
            throw FilterError.truncated
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var framing = JSONFraming()
            var end = position
            guard framing.advance(bytes, from: position, end: &end) else { throw FilterError.truncated }
            position = end
        default:
            // Numbers and literals end at a delimiter.
            let start = position
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09:
                    guard position > start else { throw FilterError.malformed("expected a value", offset: position) }
                    return
                default:
                    let b = bytes[position]
                    let allowed = (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
                        || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: "E")
                    guard allowed else { throw FilterError.malformed("unexpected byte", offset: position) }
                    position += 1
                }
            }
            throw FilterError.truncated
        }
    }

    static func unescape(_ raw: UnsafeBufferPointer<UInt8>, offset: Int) throws(FilterError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) throws(FilterError) -> UInt32 {
            guard at + 4 <= raw.count else { throw FilterError.malformed("bad \\u escape", offset: offset + at) }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let d = Character(Unicode.Scalar(raw[k])).hexDigitValue else {
                    throw FilterError.malformed("bad \\u escape", offset: offset + at)
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < raw.count {
            let b = raw[i]
            guard b == backslash, i + 1 < raw.count else { out.append(b); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if scalar >= 0xD800, scalar < 0xDC00, i + 6 <= raw.count, raw[i] == backslash, raw[i + 1] == UInt8(ascii: "u") {
                    let low = try hex4(i + 2)
                    if low >= 0xDC00, low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why a body could not be filtered. The proxy then ends the response with an error instead
/// of passing on bytes it could not judge.
public enum FilterError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated
    case malformed(String, offset: Int)
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .truncated: "the body ended inside a value"
        case .malformed(let what, let offset): "malformed body: \(what) at byte \(offset)"
        case .tooLarge(let limit): "an object exceeds the filter's limit of \(limit) bytes"
        }
    }
}

/// An object key as it appears in the bytes, matched against literals without allocating.
struct JSONKey {
    let raw: UnsafeBufferPointer<UInt8>
    /// Set instead when the key had escapes.
    let unescaped: String?

    var string: String { unescaped ?? String(decoding: raw, as: UTF8.self) }

    static func == (key: JSONKey, literal: StaticString) -> Bool {
        if let unescaped = key.unescaped { return unescaped == literal.description }
        guard key.raw.count == literal.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for i in 0..<key.raw.count where key.raw[i] != expected[i] { return false }
        return true
    }

    static func ~= (literal: StaticString, key: JSONKey) -> Bool { key == literal }
}
