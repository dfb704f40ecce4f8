import KubeModel

/// One object in an informer's cache. The object is kept as its JSON bytes and parsed when a
/// reconcile reads it: a parsed tree costs several times its text, and an operator's cache
/// holds every object it watches while reading few of them at a time.
public final class CachedObject: Sendable {
    public let namespace: String
    public let name: String
    public let uid: String
    public let resourceVersion: String
    /// The controller ownerReference, if any (the owner index, and `Owns` in controllers).
    public let controller: ControllerReference?
    public let bytes: [UInt8]

    public convenience init(_ json: JSON) {
        self.init(json, bytes: json.serialized())
    }

    /// `bytes` must be `json` as the server sent it (a list item's exact text).
    public init(_ json: JSON, bytes: [UInt8]) {
        namespace = json.namespace ?? ""
        name = json.name ?? ""
        uid = json.uid ?? ""
        resourceVersion = json.resourceVersion ?? ""
        controller = json.controllerOwnerReference.flatMap(ControllerReference.init)
        self.bytes = bytes
    }

    public var controllerUID: String? { controller?.uid }

    /// `namespace/name`, or `name` for cluster-scoped objects (client-go's key format).
    public var key: String { Self.key(namespace: namespace, name: name) }

    /// The object, parsed from its bytes.
    public var json: JSON {
        // The bytes were written by our own serializer, so they always parse.
        (try? JSON.parse(bytes)) ?? .null
    }

    public static func key(namespace: String, name: String) -> String {
        namespace.isEmpty ? name : "\(namespace)/\(name)"
    }
}

/// The parts of a controller ownerReference a controller needs to find the owner.
public struct ControllerReference: Sendable, Equatable {
    public var kind: String
    public var name: String
    public var uid: String

    init?(_ reference: JSON) {
        guard let kind = reference["kind"]?.stringValue, let name = reference["name"]?.stringValue,
              let uid = reference["uid"]?.stringValue else { return nil }
        self.kind = kind
        self.name = name
        self.uid = uid
    }
}
