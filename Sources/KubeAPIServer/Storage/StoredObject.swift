import KubeModel

/// One object as stored: the parsed JSON, its serialized bytes (served as they are by lists
/// and watches) and the metadata selectors need, read once at write time.
public final class StoredObject: Sendable {
    public let json: JSON
    public let bytes: [UInt8]
    public let resourceVersion: UInt64
    public let namespace: String
    public let name: String
    public let uid: String
    public let labels: [String: String]

    public init(json: JSON, resourceVersion: UInt64) {
        self.json = json
        self.bytes = json.serialized()
        self.resourceVersion = resourceVersion
        self.namespace = json.namespace ?? ""
        self.name = json.name ?? ""
        self.uid = json.uid ?? ""
        self.labels = json.labels
    }

    /// Rebuilds from persisted bytes.
    public init(bytes: [UInt8], resourceVersion: UInt64) throws {
        let json = try JSON.parse(bytes)
        self.json = json
        self.bytes = bytes
        self.resourceVersion = resourceVersion
        self.namespace = json.namespace ?? ""
        self.name = json.name ?? ""
        self.uid = json.uid ?? ""
        self.labels = json.labels
    }

    var key: ObjectKey { ObjectKey(namespace: namespace, name: name) }
}

/// Namespace and name; ordered as the API server lists them.
public struct ObjectKey: Hashable, Sendable, Comparable {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

public enum WatchEventType: String, Sendable {
    case added = "ADDED"
    case modified = "MODIFIED"
    case deleted = "DELETED"
}

/// A change to one object. `previous` lets a watch with a selector turn a change that moves an
/// object into or out of its selection into ADDED or DELETED.
public struct StoreEvent: Sendable {
    public var type: WatchEventType
    public var resource: GroupResource
    public var object: StoredObject
    public var previous: StoredObject?
    public var resourceVersion: UInt64 { object.resourceVersion }
}
