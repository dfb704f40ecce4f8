/// The syntax tree of a regular expression in the RE2 syntax Go's `regexp` reads, less flags
/// and Unicode classes (refused, not guessed). `RegexProgram` runs it in linear time.
indirect enum RegexNode: Equatable, Sendable {
    case empty
    case scalars(ScalarSet)
    case concat([RegexNode])
    case alternate([RegexNode])
    /// `max` nil: unbounded.
    case repetition(RegexNode, min: Int, max: Int?)
    case assertion(RegexAssertion)
}

enum RegexAssertion: Equatable, Sendable {
    case beginText, endText, wordBoundary, notWordBoundary
}

/// A set of Unicode scalars as sorted, disjoint ranges of their values.
struct ScalarSet: Equatable, Sendable {
    var ranges: [ClosedRange<UInt32>]

    static let any = ScalarSet(ranges: [0...0x10FFFF])
    /// `.`: anything but a newline.
    static let dot = ScalarSet(ranges: [0...9, 11...0x10FFFF])
    static let digit = ScalarSet(ranges: [48...57])
    static let space = ScalarSet(ranges: [9...10, 12...13, 32...32])
    static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])

    init(ranges: [ClosedRange<UInt32>]) {
        self.ranges = ScalarSet.normalized(ranges)
    }

    init(_ scalar: Unicode.Scalar) {
        ranges = [scalar.value...scalar.value]
    }

    var inverted: ScalarSet {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges {
            if range.lowerBound > next { out.append(next...range.lowerBound - 1) }
            next = range.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return ScalarSet(ranges: out)
    }

    func contains(_ value: UInt32) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < value { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].contains(value)
    }

    static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, range.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                out.append(range)
            }
        }
        return out
    }
}

/// Why a pattern was refused.
public struct RegexSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
}

/// Reads a pattern into a `RegexNode`.
struct RegexParser {
    /// The largest count a `{n,m}` may name, as in RE2.
    static let maxRepeat = 1000

    /// The deepest nesting of groups: parsing and compiling recurse once per level.
    static let maxDepth = 200

    let scalars: [Unicode.Scalar]
    var position = 0
    var depth = 0
    var groupNames: Set<String> = []

    static func parse(_ pattern: String) throws(RegexSyntaxError) -> RegexNode {
        var parser = RegexParser(scalars: Array(pattern.unicodeScalars))
        let node = try parser.alternation()
        if parser.position < parser.scalars.count { throw parser.error("unexpected )") }
        return node
    }

    func error(_ message: String) -> RegexSyntaxError {
        RegexSyntaxError(description: "\(message) at offset \(position)")
    }

    var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    mutating func next() -> Unicode.Scalar? {
        guard let scalar = peek else { return nil }
        position += 1
        return scalar
    }

    mutating func alternation() throws(RegexSyntaxError) -> RegexNode {
        var branches = [try concatenation()]
        while peek == "|" {
            position += 1
            branches.append(try concatenation())
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func concatenation() throws(RegexSyntaxError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            items.append(try repeated())
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    mutating func repeated() throws(RegexSyntaxError) -> RegexNode {
        var node = try atom()
        var quantified = false
        while let (min, max) = try quantifier() {
            if quantified { throw error("invalid nested repetition operator") }
            quantified = true
            if peek == "?" { position += 1 }  // lazy: the same language
            node = .repetition(node, min: min, max: max)
        }
        return node
    }

    /// A quantifier at the current position, consumed; nil (nothing consumed) when there is
    /// none. A `{` that does not open a well-formed count is a literal, as in Go.
    mutating func quantifier() throws(RegexSyntaxError) -> (Int, Int?)? {
        switch peek {
        case "*": position += 1; return (0, nil)
        case "+": position += 1; return (1, nil)
        case "?": position += 1; return (0, 1)
        case "{":
            let start = position
            position += 1
            guard let min = number() else { position = start; return nil }
            var max: Int? = min
            if peek == "," {
                position += 1
                max = peek == "}" ? nil : number()
                if max == nil, peek != "}" { position = start; return nil }
            }
            guard peek == "}" else { position = start; return nil }
            position += 1
            if min > Self.maxRepeat || (max ?? 0) > Self.maxRepeat || max.map({ $0 < min }) == true {
                throw error("invalid repeat count")
            }
            return (min, max)
        default: return nil
        }
    }

    mutating func number() -> Int? {
        var value = 0
        var digits = 0
        while let scalar = peek, ("0"..."9").contains(scalar) {
            value = min(value * 10 + Int(scalar.value - 48), 100_000)
            digits += 1
            position += 1
        }
        return digits == 0 ? nil : value
    }

    mutating func atom() throws(RegexSyntaxError) -> RegexNode {
        guard let scalar = next() else { throw error("missing argument") }
        switch scalar {
        case "(":
            depth += 1
            guard depth <= Self.maxDepth else { throw error("groups nested deeper than \(Self.maxDepth)") }
            try groupPrefix()
            let inner = try alternation()
            guard next() == ")" else { throw error("missing )") }
            depth -= 1
            return inner
        case ".": return .scalars(.dot)
        case "^": return .assertion(.beginText)
        case "$": return .assertion(.endText)
        case "[": return .scalars(try characterClass())
        case "\\": return try escape(inClass: false)
        case "*", "+", "?": throw error("missing argument to repetition operator")
        default: return .scalars(ScalarSet(scalar))
        }
    }

    /// `(?:`, `(?P<name>` and `(?<name>` open groups like `(`; flags are refused.
    mutating func groupPrefix() throws(RegexSyntaxError) {
        guard peek == "?" else { return }
        position += 1
        switch next() {
        case ":": return
        case "P" where peek == "<", "<":
            if scalars[position - 1] == "P" { position += 1 }
            var name = ""
            while let scalar = next() {
                if scalar == ">", !name.isEmpty {
                    guard groupNames.insert(name).inserted else { throw error("duplicate group name \(name)") }
                    return
                }
                guard scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) else { throw error("invalid group name") }
                name.unicodeScalars.append(scalar)
            }
            throw error("invalid group name")
        default:
            throw error("flags and other (? groups are not supported")
        }
    }

    mutating func characterClass() throws(RegexSyntaxError) -> ScalarSet {
        let negated = peek == "^"
        if negated { position += 1 }
        // Collected, then sorted and merged once: a class of n ranges costs n log n.
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let scalar = next() else { throw error("missing ]") }
            if scalar == "]", !first { break }
            first = false
            if scalar == "[", peek == ":" { throw error("POSIX classes are not supported") }
            let low: ScalarSet
            if scalar == "\\" {
                guard case .scalars(let escaped) = try escape(inClass: true) else { throw error("invalid escape in class") }
                low = escaped
            } else {
                low = ScalarSet(scalar)
            }
            // A range `a-z`; a `-` before `]` is itself. A class such as `\d` bounds no range.
            if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                guard low.ranges.count == 1, low.ranges[0].lowerBound == low.ranges[0].upperBound else {
                    throw error("invalid character class range")
                }
                position += 1
                var high = next()!
                if high == "\\" {
                    guard case .scalars(let escaped) = try escape(inClass: true), escaped.ranges.count == 1,
                          escaped.ranges[0].lowerBound == escaped.ranges[0].upperBound else { throw error("invalid range") }
                    high = Unicode.Scalar(escaped.ranges[0].lowerBound)!
                }
                guard high.value >= low.ranges[0].lowerBound else { throw error("invalid character class range") }
                ranges.append(low.ranges[0].lowerBound...high.value)
            } else {
                ranges += low.ranges
            }
        }
        let set = ScalarSet(ranges: ranges)
        return negated ? set.inverted : set
    }

    mutating func escape(inClass: Bool) throws(RegexSyntaxError) -> RegexNode {
        guard let scalar = next() else { throw error("trailing backslash") }
        switch scalar {
        case "d": return .scalars(.digit)
        case "D": return .scalars(ScalarSet.digit.inverted)
        case "s": return .scalars(.space)
        case "S": return .scalars(ScalarSet.space.inverted)
        case "w": return .scalars(.word)
        case "W": return .scalars(ScalarSet.word.inverted)
        case "t": return .scalars(ScalarSet("\t"))
        case "n": return .scalars(ScalarSet("\n"))
        case "r": return .scalars(ScalarSet("\r"))
        case "f": return .scalars(ScalarSet(Unicode.Scalar(12)))
        case "v": return .scalars(ScalarSet(Unicode.Scalar(11)))
        case "A" where !inClass: return .assertion(.beginText)
        case "z" where !inClass: return .assertion(.endText)
        case "b" where !inClass: return .assertion(.wordBoundary)
        case "B" where !inClass: return .assertion(.notWordBoundary)
        default:
            // Any ASCII punctuation stands for itself; other escapes are refused.
            guard scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                throw error("invalid escape \\\(scalar)")
            }
            return .scalars(ScalarSet(scalar))
        }
    }
}
