import AsyncHTTPClient
import KubeModel
import NIOCore

/// One event of a watch.
public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
    }

    public var kind: Kind
    public var object: JSON

    public init(kind: Kind, object: JSON) {
        self.kind = kind
        self.object = object
    }
}

/// The events of a watch response, one JSON object per line. Ends when the server ends the
/// stream (`timeoutSeconds`); an ERROR event is thrown as its `StatusError`.
public struct WatchStream: AsyncSequence, Sendable {
    public typealias Element = WatchEvent
    let body: HTTPClientResponse.Body

    public func makeAsyncIterator() -> Iterator {
        Iterator(chunks: body.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var chunks: HTTPClientResponse.Body.AsyncIterator
        var lines = LineSplitter()

        public mutating func next() async throws -> WatchEvent? {
            while true {
                if let line = lines.nextLine() { return try WatchEvent.decode(line) }
                guard let chunk = try await chunks.next() else {
                    // A final event without its newline still counts.
                    guard let rest = lines.remainder() else { return nil }
                    return try WatchEvent.decode(rest)
                }
                lines.append(chunk.readableBytesView)
            }
        }
    }
}

extension WatchEvent {
    public struct MalformedEvent: Error, CustomStringConvertible {
        public let description: String
    }

    /// Decodes one line of a watch stream.
    public static func decode(_ line: ArraySlice<UInt8>) throws -> WatchEvent {
        let json = try JSON.parse(line)
        guard let type = json["type"]?.stringValue, let object = json["object"] else {
            throw MalformedEvent(description: "watch event without type or object")
        }
        if type == "ERROR" {
            throw StatusError(statusObject: object) ?? StatusError.internalError("watch ERROR event: \(object.jsonString)")
        }
        guard let kind = Kind(rawValue: type) else { throw MalformedEvent(description: "unknown watch event type \(type)") }
        return WatchEvent(kind: kind, object: object)
    }
}

/// Splits a byte stream into newline-terminated lines, skipping blank ones.
struct LineSplitter {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func nextLine() -> ArraySlice<UInt8>? {
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[start..<newline]
            start = newline + 1
            if !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { return line }
        }
        if start > 0 && start > buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        return nil
    }

    mutating func remainder() -> ArraySlice<UInt8>? {
        let rest = buffer[start...]
        start = buffer.count
        return rest.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) ? nil : rest
    }
}
