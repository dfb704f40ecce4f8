import KubeModel

/// Reads identities from Kubernetes protobuf: an object message (ObjectMeta is field 1 of
/// every kind) and the `k8s\0` envelope around it. Field numbers are those of k8s.io/api's
/// generated.proto: ObjectMeta name 1, namespace 3, uid 5, resourceVersion 6, labels 11,
/// ownerReferences 13 (uid 4, controller 6); runtime.Unknown typeMeta 1 (apiVersion 1,
/// kind 2), raw 2.
public enum ProtobufIdentityReader {
    /// An object message (a list item, or the raw of an envelope).
    public static func object(_ bytes: ArraySlice<UInt8>) throws(FilterError) -> ObjectIdentity {
        var identity = ObjectIdentity()
        do {
            var reader = ProtobufReader(bytes)
            while !reader.atEnd {
                let (number, value) = try reader.field()
                if number == 1, case .bytes(let meta) = value { try readMeta(meta, into: &identity) }
            }
        } catch {
            throw FilterError.malformed("invalid protobuf object", offset: bytes.startIndex)
        }
        return identity
    }

    /// An enveloped object (`k8s\0` + runtime.Unknown), as in a watch event's RawExtension.
    public static func envelope(_ bytes: ArraySlice<UInt8>) throws(FilterError) -> ObjectIdentity {
        guard bytes.starts(with: KubernetesProtobuf.magic) else {
            throw FilterError.malformed("protobuf object without the k8s envelope", offset: bytes.startIndex)
        }
        let parts: (apiVersion: String, kind: String, raw: ArraySlice<UInt8>)
        do {
            parts = try KubernetesProtobuf.envelope(bytes)
        } catch {
            throw FilterError.malformed("invalid protobuf envelope", offset: bytes.startIndex)
        }
        var identity = try object(parts.raw)
        identity.apiVersion = parts.apiVersion
        identity.kind = parts.kind
        return identity
    }

    static func readMeta(_ bytes: ArraySlice<UInt8>, into identity: inout ObjectIdentity) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while !reader.atEnd {
            let (number, value) = try reader.field()
            guard case .bytes(let payload) = value else { continue }
            switch number {
            case 1: identity.name = String(decoding: payload, as: UTF8.self)
            case 2: identity.generateName = String(decoding: payload, as: UTF8.self)
            case 3: identity.namespace = String(decoding: payload, as: UTF8.self)
            case 5: identity.uid = String(decoding: payload, as: UTF8.self)
            case 6: identity.resourceVersion = String(decoding: payload, as: UTF8.self)
            case 11:
                var entry = ProtobufReader(payload)
                var key = ""
                var text = ""
                while !entry.atEnd {
                    let (n, v) = try entry.field()
                    if case .bytes(let s) = v {
                        if n == 1 { key = String(decoding: s, as: UTF8.self) }
                        if n == 2 { text = String(decoding: s, as: UTF8.self) }
                    }
                }
                identity.labels[key] = text
            case 13:
                identity.owners += 1
                var reference = ProtobufReader(payload)
                var uid: String?
                var controller = false
                while !reference.atEnd {
                    let (n, v) = try reference.field()
                    if n == 4, case .bytes(let s) = v { uid = String(decoding: s, as: UTF8.self) }
                    if n == 6, case .varint(let flag) = v { controller = flag != 0 }
                }
                if controller {
                    identity.controllers += 1
                    if identity.controllerUID == nil { identity.controllerUID = uid }
                }
            default: break
            }
        }
    }
}
