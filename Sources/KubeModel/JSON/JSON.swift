/// A JSON value that keeps what the client sent: object key order and number literals are
/// preserved, so an object stored and served back is the object that was written.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, exactly as parsed (Kubernetes int64 values exceed a Double).
    case number(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ value: Int) -> JSON { .number(String(value)) }
    public static func int64(_ value: Int64) -> JSON { .number(String(value)) }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var intValue: Int64? {
        if case .number(let n) = self { return Int64(n) ?? Double(n).flatMap { $0 == $0.rounded() ? Int64(exactly: $0) : nil } }
        return nil
    }
    public var doubleValue: Double? {
        if case .number(let n) = self { return Double(n) }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type name, used in error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public subscript(key: String) -> JSON? {
        get { objectValue?[key] }
        set {
            guard case .object(var o) = self else { return }
            self = .null  // release the payload so the object is mutated in place
            o[key] = newValue
            self = .object(o)
        }
    }

    /// Follows a path of object keys.
    public func value(at path: [String]) -> JSON? {
        var current: JSON = self
        for key in path {
            guard let next = current[key] else { return nil }
            current = next
        }
        return current
    }

    /// Sets a value at a path of object keys, creating intermediate objects as needed;
    /// `nil` removes the last key.
    public mutating func setValue(_ value: JSON?, at path: ArraySlice<String>) {
        guard let first = path.first else {
            if let value { self = value }
            return
        }
        if case .object = self {} else { self = .object(JSONObject()) }
        if path.count == 1 {
            self[first] = value
            return
        }
        var child = self[first] ?? .object(JSONObject())
        if case .object = child {} else { child = .object(JSONObject()) }
        self[first] = .null  // drop the shared reference so the child is mutated without a copy
        child.setValue(value, at: path.dropFirst())
        self[first] = child
    }

    public mutating func setValue(_ value: JSON?, at path: [String]) {
        setValue(value, at: path[...])
    }
}

extension JSON: Equatable {
    /// Semantic equality: object key order is ignored and numbers compare by value.
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)):
            if a == b { return true }
            if let x = Int64(a), let y = Int64(b) { return x == y }
            guard let x = Double(a), let y = Double(b) else { return false }
            return x == y
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

/// A JSON object that keeps its keys in insertion order. Objects above a few keys keep an
/// index from key to position, so lookups, merges and comparisons of large objects (a
/// ConfigMap with many keys, a hostile body) stay linear in the object's size.
public struct JSONObject: Sendable, Equatable, Sequence {
    public private(set) var keys: [String] = []
    public private(set) var values: [JSON] = []
    /// Position of each key; built once the object outgrows `indexThreshold`.
    private var positions: [String: Int]?

    static let indexThreshold = 16

    public init() {}

    public init(_ pairs: [(String, JSON)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public func index(of key: String) -> Int? {
        if let positions { return positions[key] }
        return keys.firstIndex(of: key)
    }

    public subscript(key: String) -> JSON? {
        get {
            guard let i = index(of: key) else { return nil }
            return values[i]
        }
        set {
            if let i = index(of: key) {
                if let newValue {
                    values[i] = newValue
                } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                    if positions != nil { rebuildPositions() }
                }
            } else if let newValue {
                appendUnchecked(key, newValue)
            }
        }
    }

    /// Appends without looking for an existing key; the parser uses it after its own check.
    mutating func appendUnchecked(_ key: String, _ value: JSON) {
        keys.append(key)
        values.append(value)
        if positions != nil {
            positions![key] = keys.count - 1
        } else if keys.count > JSONObject.indexThreshold {
            rebuildPositions()
        }
    }

    /// Removes every listed key in one pass (one by one, each removal would cost the object's size).
    public mutating func removeKeys(_ removed: Set<String>) {
        guard !removed.isEmpty else { return }
        var keptKeys: [String] = []
        var keptValues: [JSON] = []
        for (key, value) in self where !removed.contains(key) {
            keptKeys.append(key)
            keptValues.append(value)
        }
        keys = keptKeys
        values = keptValues
        rebuildPositions()
    }

    mutating func replaceValue(at index: Int, with value: JSON) {
        values[index] = value
    }

    private mutating func rebuildPositions() {
        guard keys.count > JSONObject.indexThreshold else {
            positions = nil
            return
        }
        var map: [String: Int] = [:]
        map.reserveCapacity(keys.count)
        for (i, key) in keys.enumerated() { map[key] = i }
        positions = map
    }

    public func makeIterator() -> Zip2Sequence<[String], [JSON]>.Iterator {
        zip(keys, values).makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs {
            guard let other = rhs[k], other == v else { return false }
        }
        return true
    }
}
