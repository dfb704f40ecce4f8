/// A shell-style pattern for names and paths: `*` matches any run of bytes (also none), `?`
/// exactly one; everything else matches itself. It works on UTF-8 bytes — Kubernetes names and
/// paths are ASCII — because it runs for every request the proxy serves and must not allocate.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    let bytes: [UInt8]
    /// No wildcard: the pattern matches only itself.
    public let isLiteral: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
        self.isLiteral = !bytes.contains(Glob.star) && !bytes.contains(Glob.one)
    }

    static let star = UInt8(ascii: "*")
    static let one = UInt8(ascii: "?")

    public static func == (a: Glob, b: Glob) -> Bool { a.pattern == b.pattern }

    public var description: String { pattern }

    public func matches(_ text: String) -> Bool {
        if isLiteral { return pattern == text }
        var text = text
        return text.withUTF8 { matches(bytes: $0) }
    }

    /// Iterative matching with one backtrack point per `*`: linear in practice, never
    /// exponential however many stars the pattern has.
    func matches(bytes text: UnsafeBufferPointer<UInt8>) -> Bool {
        let glob = bytes
        var p = 0, t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < glob.count, glob[p] == Glob.one || (glob[p] != Glob.star && glob[p] == text[t]) {
                p += 1
                t += 1
            } else if p < glob.count, glob[p] == Glob.star {
                star = p
                resume = t
                p += 1
            } else if let s = star {
                p = s + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < glob.count, glob[p] == Glob.star { p += 1 }
        return p == glob.count
    }
}
