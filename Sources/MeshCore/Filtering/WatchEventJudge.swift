/// The per-event decision both watch filters (JSON and protobuf) make: object events pass when
/// owned; dropped ones leave a bookmark to send at the end of the chunk (when the client
/// allowed bookmarks); BOOKMARK and ERROR events always pass.
struct WatchEventJudge: Sendable {
    let keep: @Sendable (ObjectIdentity) -> Bool
    let bookmarks: Bool
    var pendingBookmark: ObjectIdentity?
    private(set) var lastDeliveredResourceVersion: String?
    private(set) var kept = 0
    private(set) var dropped = 0

    init(bookmarks: Bool, keep: @escaping @Sendable (ObjectIdentity) -> Bool) {
        self.keep = keep
        self.bookmarks = bookmarks
    }

    /// Whether the event goes to the client.
    mutating func passes(type: String, identity: ObjectIdentity) -> Bool {
        switch type {
        case "ADDED", "MODIFIED", "DELETED":
            guard keep(identity) else {
                dropped += 1
                if bookmarks { pendingBookmark = identity }
                return false
            }
            kept += 1
        default:
            // BOOKMARK and ERROR carry no object of the shard.
            if type != "BOOKMARK" {
                pendingBookmark = nil
                return true
            }
        }
        pendingBookmark = nil
        lastDeliveredResourceVersion = identity.resourceVersion
        return true
    }

    /// At the end of a chunk: the dropped event to stand in for with a bookmark, if any.
    mutating func takeBookmark() -> ObjectIdentity? {
        defer { pendingBookmark = nil }
        guard let bookmark = pendingBookmark, !bookmark.resourceVersion.isEmpty else { return nil }
        lastDeliveredResourceVersion = bookmark.resourceVersion
        return bookmark
    }
}
