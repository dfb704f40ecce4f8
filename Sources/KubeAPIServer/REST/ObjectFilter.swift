import KubeModel

/// What a list or watch selects: namespace, label selector, field selector and KEP-5866 shard
/// selector, all parsed and checked before any object is read.
struct ObjectFilter: Sendable {
    var namespace: String?
    var labels = LabelSelector.everything
    var fields = FieldSelector()
    var shard: ShardSelector?

    /// Field selectors each resource supports beyond metadata.name and metadata.namespace.
    static let extraFields: [String: Set<String>] = [
        "pods": ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
                 "status.phase", "status.podIP", "status.nominatedNodeName"],
        "events": ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                   "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                   "reason", "reportingComponent", "source", "type"],
        "secrets": ["type"],
        "namespaces": ["status.phase"],
        "nodes": ["spec.unschedulable"],
        "replicasets": ["status.replicas"],
    ]

    init(namespace: String?, query: QueryParameters, info: ResourceInfo) throws(StatusError) {
        self.namespace = namespace
        do {
            if let text = query["labelSelector"] { labels = try LabelSelector(parsing: text) }
            if let text = query["fieldSelector"] { fields = try FieldSelector(parsing: text) }
        } catch {
            throw StatusError.badRequest(error.message)
        }
        let supported = ObjectFilter.extraFields[info.plural] ?? []
        for r in fields.requirements where r.field != "metadata.name" && r.field != "metadata.namespace" && !supported.contains(r.field) {
            throw StatusError.badRequest("field label not supported: \(r.field)")
        }
        if let text = query["shardSelector"], !text.isEmpty {
            do { shard = try ShardSelector(parsing: text) } catch { throw StatusError.badRequest(error.message) }
        }
    }

    /// True when every object of the namespace (or of all) matches: no label, field or shard
    /// selector.
    var selectsEverything: Bool { labels.isEverything && fields.isEverything && shard == nil }

    func matches(_ object: StoredObject) -> Bool {
        if let namespace, object.namespace != namespace { return false }
        if !labels.isEverything, !labels.matches(object.labels) { return false }
        if !fields.isEverything, !fields.matches({ ObjectFilter.fieldValue($0, of: object) }) { return false }
        if let shard {
            switch shard.field {
            case .uid: if !shard.matches(fieldValue: object.uid) { return false }
            case .namespace: if !shard.matches(fieldValue: object.namespace) { return false }
            }
        }
        return true
    }

    static func fieldValue(_ field: String, of object: StoredObject) -> String? {
        switch field {
        case "metadata.name": return object.name
        case "metadata.namespace": return object.namespace
        case "source": return object.json["source"]?["component"]?.stringValue
        default:
            let value = object.json.value(at: field.split(separator: ".").map(String.init))
            switch value {
            case .string(let s)?: return s
            case .bool(let b)?: return b ? "true" : "false"
            case .number(let n)?: return n
            default:
                // Unset booleans read as false, as the typed field would.
                return field == "spec.hostNetwork" || field == "spec.unschedulable" ? "false" : ""
            }
        }
    }
}
