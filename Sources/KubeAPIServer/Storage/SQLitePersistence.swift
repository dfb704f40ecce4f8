import Foundation
import GRDB
import KubeModel

/// Objects in SQLite in WAL mode. Each write is its own transaction, committed before the
/// API answers, so a killed process loses no acknowledged write (WAL with synchronous=NORMAL
/// is durable against process crashes; power loss may drop the last transactions).
public final class SQLitePersistence: Persistence {
    let queue: DatabaseQueue

    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        config.journalMode = .wal
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS objects (
                    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                    rv INTEGER NOT NULL, data BLOB NOT NULL,
                    PRIMARY KEY (resource, namespace, name));
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
    }

    public func load() throws -> (objects: [(GroupResource, StoredObject)], resourceVersion: UInt64) {
        try queue.read { db in
            var objects: [(GroupResource, StoredObject)] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT resource, rv, data FROM objects")
            while let row = try rows.next() {
                let resource: String = row["resource"]
                let rv: Int64 = row["rv"]
                let data: Data = row["data"]
                objects.append((Self.decode(resource), try StoredObject(bytes: Array(data), resourceVersion: UInt64(rv))))
            }
            let rv = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'resourceVersion'") ?? 0
            return (objects, UInt64(rv))
        }
    }

    public func put(_ resource: GroupResource, _ object: StoredObject) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, data) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Self.encode(resource), object.namespace, object.name, Int64(object.resourceVersion), Data(object.bytes)])
            try Self.saveCounter(db, object.resourceVersion)
        }
    }

    public func delete(_ resource: GroupResource, _ key: ObjectKey, resourceVersion: UInt64) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                           arguments: [Self.encode(resource), key.namespace, key.name])
            try Self.saveCounter(db, resourceVersion)
        }
    }

    static func saveCounter(_ db: Database, _ rv: UInt64) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?)", arguments: [Int64(rv)])
    }

    static func encode(_ gr: GroupResource) -> String { "\(gr.group)/\(gr.resource)" }

    static func decode(_ s: String) -> GroupResource {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        return GroupResource(group: String(parts[0]), resource: parts.count > 1 ? String(parts[1]) : "")
    }
}
