import KubeModel

/// Where committed writes go before they are acknowledged. The store calls it under its lock,
/// in resourceVersion order.
public protocol Persistence: Sendable {
    /// Everything stored, and the resourceVersion counter.
    func load() throws -> (objects: [(GroupResource, StoredObject)], resourceVersion: UInt64)
    func put(_ resource: GroupResource, _ object: StoredObject) throws
    func delete(_ resource: GroupResource, _ key: ObjectKey, resourceVersion: UInt64) throws
}

/// Memory only: nothing to load, nothing to write.
public struct NoPersistence: Persistence {
    public init() {}
    public func load() throws -> (objects: [(GroupResource, StoredObject)], resourceVersion: UInt64) { ([], 0) }
    public func put(_ resource: GroupResource, _ object: StoredObject) throws {}
    public func delete(_ resource: GroupResource, _ key: ObjectKey, resourceVersion: UInt64) throws {}
}
