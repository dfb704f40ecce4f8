import KubeModel
import Synchronization

/// Which mesh shard made each write, as its proxy stamped it (`WriterStamp`, carried as
/// impersonation extras): the record the ownership audit reads, served at
/// `/debug/ctrlmesh/writes`. Commits made without the stamp (direct clients, the garbage
/// collector) are not recorded. Bounded: the oldest records go first.
public final class WriteAudit: Sendable {
    public struct Record: Sendable {
        public var resourceVersion: UInt64
        public var resource: GroupResource
        public var namespace: String
        public var name: String
        public var uid: String
        public var controllerUID: String?
        public var type: String
        public var shard: String
        public var epoch: UInt64
    }

    static let limit = 500_000

    let records = Mutex<[Record]>([])

    init(store: ObjectStore) {
        _ = store.observe { [self] event in
            guard let stamp = StampedWriteFence.stamp else { return }
            let json = event.object.json
            let controller = (json["metadata"]?["ownerReferences"]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }
            let record = Record(resourceVersion: event.resourceVersion, resource: event.resource, namespace: event.object.key.namespace,
                                name: event.object.key.name, uid: json.uid ?? "", controllerUID: controller?["uid"]?.stringValue,
                                type: event.type.rawValue, shard: stamp.shard, epoch: stamp.epoch)
            self.records.withLock { list in
                if list.count >= WriteAudit.limit { list.removeFirst(list.count / 10) }
                list.append(record)
            }
        }
    }

    public var all: [Record] { records.withLock { $0 } }

    /// The record as JSON: `{"items": [{resourceVersion, group, resource, namespace, name, uid, controllerUID, type, shard, epoch}]}`.
    public func json() -> JSON {
        .object(JSONObject([("items", .array(all.map { record in
            var item: JSON = ["resourceVersion": .number(String(record.resourceVersion)), "group": .string(record.resource.group),
                              "resource": .string(record.resource.resource), "namespace": .string(record.namespace),
                              "name": .string(record.name), "uid": .string(record.uid), "type": .string(record.type),
                              "shard": .string(record.shard), "epoch": .number(String(record.epoch))]
            if let controller = record.controllerUID { item.setValue(.string(controller), at: ["controllerUID"]) }
            return item
        }))]))
    }
}
