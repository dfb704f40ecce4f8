import KubeModel

/// Filters a JSON watch stream (one event object after another) while it streams. Events for
/// objects outside the shard are dropped; when the client allowed bookmarks, the last dropped
/// event of each chunk becomes a BOOKMARK with that event's resourceVersion, so the client's
/// resourceVersion keeps advancing without it seeing the object.
public struct JSONWatchFilter: Sendable {
    var judge: WatchEventJudge
    let maxEventBytes: Int

    var event: [UInt8] = []
    var framing = JSONFraming()
    var inEvent = false

    /// The resourceVersion of the last event (or bookmark) passed on.
    public var lastDeliveredResourceVersion: String? { judge.lastDeliveredResourceVersion }
    public var kept: Int { judge.kept }
    public var dropped: Int { judge.dropped }

    public init(bookmarks: Bool, maxEventBytes: Int = 64 << 20, keep: @escaping @Sendable (ObjectIdentity) -> Bool) {
        self.judge = WatchEventJudge(bookmarks: bookmarks, keep: keep)
        self.maxEventBytes = maxEventBytes
    }

    public mutating func consume(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FilterError) {
        let bytes = chunk.bindMemory(to: UInt8.self)
        var i = 0
        while i < bytes.count {
            if !inEvent {
                switch bytes[i] {
                case 0x20, 0x0A, 0x0D, 0x09:
                    i += 1
                    continue
                case UInt8(ascii: "{"):
                    inEvent = true
                    framing = JSONFraming()
                    event.removeAll(keepingCapacity: true)
                default:
                    throw FilterError.malformed("watch event is not an object", offset: i)
                }
            }
            let start = i
            let complete = framing.advance(bytes, from: start, end: &i)
            event.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
            if event.count > maxEventBytes { throw FilterError.tooLarge(maxEventBytes) }
            guard complete else { break }
            inEvent = false
            let (type, identity) = try event.withUnsafeBufferPointer { (buffer) throws(FilterError) in
                try JSONIdentityReader.event(buffer)
            }
            if judge.passes(type: type, identity: identity) {
                output.append(contentsOf: event)
                output.append(0x0A)
            }
        }
        if let bookmark = judge.takeBookmark() {
            JSONWatchFilter.appendBookmark(for: bookmark, into: &output)
        }
    }

    /// True when the stream stopped between events.
    public var atEventBoundary: Bool { !inEvent }

    static func appendBookmark(for identity: ObjectIdentity, into output: inout [UInt8]) {
        output.append(contentsOf: #"{"type":"BOOKMARK","object":{"kind":"#.utf8)
        JSON.writeString(identity.kind, into: &output)
        output.append(contentsOf: #","apiVersion":"#.utf8)
        JSON.writeString(identity.apiVersion, into: &output)
        output.append(contentsOf: #","metadata":{"resourceVersion":"#.utf8)
        JSON.writeString(identity.resourceVersion, into: &output)
        output.append(contentsOf: "}}}\n".utf8)
    }
}
