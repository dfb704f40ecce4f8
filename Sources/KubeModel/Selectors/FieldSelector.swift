import Foundation

/// A parsed field selector: `path=value`, `path==value`, `path!=value` joined by commas.
public struct FieldSelector: Sendable, Equatable {
    public struct Requirement: Sendable, Equatable {
        public var field: String
        public var value: String
        public var negated: Bool

        public init(field: String, value: String, negated: Bool) {
            self.field = field
            self.value = value
            self.negated = negated
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement] = []) {
        self.requirements = requirements
    }

    public var isEverything: Bool { requirements.isEmpty }

    public init(parsing text: String) throws(SelectorParseError) {
        var requirements: [Requirement] = []
        for raw in FieldSelector.splitTerms(text) {
            let term = raw.trimmingBlanks()
            if term.isEmpty { continue }
            if let r = term.range(of: "!=") {
                requirements.append(.init(field: String(term[..<r.lowerBound]).trimmingBlanks(), value: FieldSelector.unescape(String(term[r.upperBound...])), negated: true))
            } else if let r = term.range(of: "==") {
                requirements.append(.init(field: String(term[..<r.lowerBound]).trimmingBlanks(), value: FieldSelector.unescape(String(term[r.upperBound...])), negated: false))
            } else if let r = term.range(of: "=") {
                requirements.append(.init(field: String(term[..<r.lowerBound]).trimmingBlanks(), value: FieldSelector.unescape(String(term[r.upperBound...])), negated: false))
            } else {
                throw SelectorParseError("invalid selector: '\(text)'; can't understand '\(term)'")
            }
        }
        self.init(requirements: requirements)
    }

    /// The value of a field for one object, given by the caller (it knows which fields exist).
    public func matches(_ value: (String) -> String?) -> Bool {
        requirements.allSatisfy { r in
            let actual = value(r.field) ?? ""
            return r.negated ? actual != r.value : actual == r.value
        }
    }

    /// Splits on commas not escaped with a backslash.
    static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var escaped = false
        for c in text {
            if escaped { current.append(c); escaped = false; continue }
            if c == "\\" { current.append(c); escaped = true; continue }
            if c == "," { terms.append(current); current = ""; continue }
            current.append(c)
        }
        terms.append(current)
        return terms
    }

    static func unescape(_ value: String) -> String {
        var out = ""
        var escaped = false
        for c in value {
            if escaped { out.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            out.append(c)
        }
        return out
    }
}

extension StringProtocol {
    func trimmingBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
