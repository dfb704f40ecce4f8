/// Finds where a JSON object or array ends in a stream of chunks: the one loop every filter
/// runs over every byte, so it skips plain bytes and string contents in tight inner loops
/// and only looks closer at quotes, backslashes and brackets.
struct JSONFraming: Sendable {
    var depth = 0
    var inString = false
    var escaped = false

    /// 1 for `"`, 2 for `\`, 3 for `{` `[`, 4 for `}` `]`, 0 for everything else.
    static let classes: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        table[0x22] = 1
        table[0x5C] = 2
        table[Int(UInt8(ascii: "{"))] = 3
        table[Int(UInt8(ascii: "["))] = 3
        table[Int(UInt8(ascii: "}"))] = 4
        table[Int(UInt8(ascii: "]"))] = 4
        return table
    }()

    /// Consumes bytes from `start` (the value's first bracket, or its continuation) and
    /// returns the index after the value's closing bracket, or nil when the chunk ended first.
    mutating func advance(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, end: inout Int) -> Bool {
        var i = start
        let n = bytes.count
        return JSONFraming.classes.withUnsafeBufferPointer { classes in
            while i < n {
                if inString {
                    if escaped {
                        escaped = false
                        i += 1
                        continue
                    }
                    i = JSONFraming.skipPlainStringBytes(bytes, from: i)
                    guard i < n else { break }
                    if bytes[i] == 0x5C { escaped = true } else { inString = false }
                    i += 1
                    continue
                }
                while i < n, classes[Int(bytes[i])] == 0 { i += 1 }
                guard i < n else { break }
                switch classes[Int(bytes[i])] {
                case 1: inString = true
                case 2: break
                case 3: depth += 1
                default:
                    depth -= 1
                    if depth == 0 {
                        end = i + 1
                        return true
                    }
                }
                i += 1
            }
            end = n
            return false
        }
    }

    /// The index of the next `"` or `\` at or after `start` (or the end), eight bytes at a
    /// time: string contents are most of what a filter scans.
    static func skipPlainStringBytes(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        let n = bytes.count
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let quotes = word ^ 0x2222_2222_2222_2222
                let slashes = word ^ 0x5C5C_5C5C_5C5C_5C5C
                let zeroQuote = (quotes &- 0x0101_0101_0101_0101) & ~quotes
                let zeroSlash = (slashes &- 0x0101_0101_0101_0101) & ~slashes
                if (zeroQuote | zeroSlash) & 0x8080_8080_8080_8080 != 0 { break }
                i += 8
            }
        }
        while i < n, bytes[i] != 0x22, bytes[i] != 0x5C { i += 1 }
        return i
    }
}
