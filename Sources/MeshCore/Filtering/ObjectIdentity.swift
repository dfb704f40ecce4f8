import KubeModel

/// The few fields of an object that decide which shard owns it, read from the bytes of a list
/// item, a watch event or a request body without decoding the rest of the object.
public struct ObjectIdentity: Sendable, Equatable {
    public var apiVersion = ""
    public var kind = ""
    public var name = ""
    /// The prefix of a name the server draws (a create's body; list readers skip it).
    public var generateName = ""
    public var namespace = ""
    public var uid = ""
    public var resourceVersion = ""
    public var labels: [String: String] = [:]
    /// The uid in the ownerReference marked `controller: true`: owned objects follow it.
    public var controllerUID: String?
    /// How many ownerReferences are marked `controller: true`. More than one is invalid (the
    /// API server refuses it); readers of stored objects follow the first.
    public var controllers = 0
    /// How many ownerReferences there are, controller or not (request bodies; list readers
    /// skip it).
    public var owners = 0

    public init() {}

    /// Which fields a reader fills in. Lists read only what ownership needs, so a large list
    /// costs no string for a field nobody looks at.
    public struct Fields: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let name = Fields(rawValue: 1 << 0)
        public static let namespace = Fields(rawValue: 1 << 1)
        public static let uid = Fields(rawValue: 1 << 2)
        public static let resourceVersion = Fields(rawValue: 1 << 3)
        public static let labels = Fields(rawValue: 1 << 4)
        public static let controller = Fields(rawValue: 1 << 5)
        /// `apiVersion` and `kind` (a bookmark needs them).
        public static let type = Fields(rawValue: 1 << 6)
        public static let all: Fields = [.name, .namespace, .uid, .resourceVersion, .labels, .controller, .type]
    }

    public init(name: String = "", namespace: String = "", uid: String = "", labels: [String: String] = [:],
                controllerUID: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.labels = labels
        self.controllerUID = controllerUID
        self.controllers = controllerUID == nil ? 0 : 1
    }
}

extension ObjectIdentity {
    /// The identity of a parsed object. Request bodies are judged this way: a full parse
    /// resolves duplicate keys as the API server does (the last one wins), so a body cannot
    /// show the proxy one owner and the server another.
    public init(json: JSON) {
        self.init(name: json.name ?? "", namespace: json.namespace ?? "", uid: json.uid ?? "", labels: json.labels,
                  controllerUID: json.controllerOwnerReference?["uid"]?.stringValue)
        let references = json.metadataValue("ownerReferences")?.arrayValue ?? []
        controllers = references.filter { $0["controller"]?.boolValue == true }.count
        owners = references.count
        resourceVersion = json.resourceVersion ?? ""
        generateName = json.metadataValue("generateName")?.stringValue ?? ""
        kind = json.kind ?? ""
        apiVersion = json.apiVersion ?? ""
    }
}
