import Foundation

/// Decodes `application/vnd.kubernetes.protobuf` request bodies of the built-in kinds that
/// kubectl's typed `create` commands send (namespaces, configmaps, secrets, serviceaccounts,
/// leases, token requests), and the DeleteOptions of protobuf clients, into the JSON the API server stores. The envelope is `k8s\0` + runtime.Unknown
/// (typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2); field numbers are those of
/// k8s.io/api's generated.proto.
public enum KubernetesProtobuf {
    public static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    public struct DecodeError: Error, CustomStringConvertible {
        public let description: String
    }

    indirect enum FieldType: Sendable {
        case string, bytes, int64, int32, bool, time, microTime
        case message(Schema)
        case stringMap
        case bytesMap
    }

    struct Field: Sendable {
        var name: String
        var type: FieldType
        var repeated = false
        /// An optional (pointer) field in Go: present means set, even to zero.
        var keepsZero = false
    }

    typealias Schema = [Int: Field]

    static let ownerReference: Schema = [
        1: Field(name: "kind", type: .string), 3: Field(name: "name", type: .string), 4: Field(name: "uid", type: .string),
        5: Field(name: "apiVersion", type: .string), 6: Field(name: "controller", type: .bool),
        7: Field(name: "blockOwnerDeletion", type: .bool),
    ]

    static let objectMeta: Schema = [
        1: Field(name: "name", type: .string), 2: Field(name: "generateName", type: .string),
        3: Field(name: "namespace", type: .string), 5: Field(name: "uid", type: .string),
        6: Field(name: "resourceVersion", type: .string), 7: Field(name: "generation", type: .int64),
        11: Field(name: "labels", type: .stringMap), 12: Field(name: "annotations", type: .stringMap),
        13: Field(name: "ownerReferences", type: .message(ownerReference), repeated: true),
        14: Field(name: "finalizers", type: .string, repeated: true),
    ]

    static let localObjectReference: Schema = [1: Field(name: "name", type: .string)]
    static let objectReference: Schema = [
        1: Field(name: "kind", type: .string), 2: Field(name: "namespace", type: .string), 3: Field(name: "name", type: .string),
        4: Field(name: "uid", type: .string), 5: Field(name: "apiVersion", type: .string),
    ]

    /// Kind -> top-level schema.
    static let kinds: [String: Schema] = [
        "Namespace": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([1: Field(name: "finalizers", type: .string, repeated: true)])),
            3: Field(name: "status", type: .message([1: Field(name: "phase", type: .string)])),
        ],
        "ConfigMap": [
            1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .stringMap),
            3: Field(name: "binaryData", type: .bytesMap), 4: Field(name: "immutable", type: .bool),
        ],
        "Secret": [
            1: Field(name: "metadata", type: .message(objectMeta)), 2: Field(name: "data", type: .bytesMap),
            3: Field(name: "type", type: .string), 4: Field(name: "stringData", type: .stringMap), 5: Field(name: "immutable", type: .bool),
        ],
        "ServiceAccount": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "secrets", type: .message(objectReference), repeated: true),
            3: Field(name: "imagePullSecrets", type: .message(localObjectReference), repeated: true),
            4: Field(name: "automountServiceAccountToken", type: .bool),
        ],
        // What `kubectl create token` sends (k8s.io/api/authentication/v1).
        "TokenRequest": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([
                1: Field(name: "audiences", type: .string, repeated: true),
                3: Field(name: "boundObjectRef", type: .message([
                    1: Field(name: "kind", type: .string), 2: Field(name: "apiVersion", type: .string),
                    3: Field(name: "name", type: .string), 4: Field(name: "uid", type: .string),
                ])),
                4: Field(name: "expirationSeconds", type: .int64, keepsZero: true),
            ])),
        ],
        // What client-go sends as the body of a delete from a protobuf client.
        "DeleteOptions": [
            1: Field(name: "gracePeriodSeconds", type: .int64, keepsZero: true),
            2: Field(name: "preconditions", type: .message([
                1: Field(name: "uid", type: .string, keepsZero: true), 2: Field(name: "resourceVersion", type: .string, keepsZero: true),
            ])),
            3: Field(name: "orphanDependents", type: .bool, keepsZero: true),
            4: Field(name: "propagationPolicy", type: .string, keepsZero: true),
            5: Field(name: "dryRun", type: .string, repeated: true),
        ],
        "Lease": [
            1: Field(name: "metadata", type: .message(objectMeta)),
            2: Field(name: "spec", type: .message([
                1: Field(name: "holderIdentity", type: .string), 2: Field(name: "leaseDurationSeconds", type: .int32),
                3: Field(name: "acquireTime", type: .microTime), 4: Field(name: "renewTime", type: .microTime),
                5: Field(name: "leaseTransitions", type: .int32), 6: Field(name: "strategy", type: .string),
                7: Field(name: "preferredHolder", type: .string),
            ])),
        ],
    ]

    public static var supportedKinds: [String] { kinds.keys.sorted() }

    /// The parts of an enveloped object (`k8s\0` + runtime.Unknown): its type and the raw
    /// object message.
    public static func envelope(_ bytes: ArraySlice<UInt8>) throws(ProtobufReader.Malformed)
        -> (apiVersion: String, kind: String, raw: ArraySlice<UInt8>) {
        guard bytes.starts(with: magic) else { throw ProtobufReader.Malformed() }
        var reader = ProtobufReader(bytes.dropFirst(4))
        var apiVersion = "", kind = ""
        var raw: ArraySlice<UInt8> = []
        while !reader.atEnd {
            let (number, value) = try reader.field()
            switch (number, value) {
            case (1, .bytes(let typeMeta)):
                var r = ProtobufReader(typeMeta)
                while !r.atEnd {
                    let (n, v) = try r.field()
                    if case .bytes(let s) = v {
                        if n == 1 { apiVersion = String(decoding: s, as: UTF8.self) }
                        if n == 2 { kind = String(decoding: s, as: UTF8.self) }
                    }
                }
            case (2, .bytes(let r)): raw = r
            default: break
            }
        }
        return (apiVersion, kind, raw)
    }

    /// Decodes an enveloped object into JSON with `apiVersion` and `kind`.
    public static func decode(_ body: [UInt8]) throws(DecodeError) -> JSON {
        guard body.starts(with: magic) else { throw DecodeError(description: "missing the k8s protobuf envelope") }
        do {
            let (apiVersion, kind, raw) = try envelope(body[...])
            guard let schema = kinds[kind] else {
                throw DecodeError(description: "protobuf bodies are accepted for \(supportedKinds.joined(separator: ", ")); send \(kind.isEmpty ? "this object" : kind) as application/json")
            }
            var object = JSONObject([("apiVersion", .string(apiVersion)), ("kind", .string(kind))])
            for (k, v) in try message(raw, schema) { object[k] = v }
            return .object(object)
        } catch let error as DecodeError {
            throw error
        } catch {
            throw DecodeError(description: "malformed protobuf body")
        }
    }

    static func message(_ bytes: ArraySlice<UInt8>, _ schema: Schema) throws -> JSONObject {
        var reader = ProtobufReader(bytes)
        var object = JSONObject()
        // A singular message field that occurs more than once is the merge of its occurrences,
        // which is what decoding their concatenation gives (the proxy's identity reader merges
        // them the same way, so both read one body alike).
        var embedded: [(name: String, schema: Schema, bytes: [UInt8])] = []
        while !reader.atEnd {
            let (number, wire) = try reader.field()
            guard let field = schema[number] else { continue }
            if case .message(let inner) = field.type, !field.repeated, case .bytes(let payload) = wire {
                if let i = embedded.firstIndex(where: { $0.name == field.name }) {
                    embedded[i].bytes += payload
                } else {
                    embedded.append((field.name, inner, Array(payload)))
                    object[field.name] = .null  // holds the field's place in key order
                }
                continue
            }
            let value = try decodeValue(wire, field.type)
            switch field.type {
            case .stringMap, .bytesMap:
                var map = object[field.name]?.objectValue ?? JSONObject()
                if case .array(let pair) = value, pair.count == 2, let key = pair[0].stringValue { map[key] = pair[1] }
                object[field.name] = .object(map)
            default:
                // Go's JSON omits empty values that protobuf always carries.
                if !field.repeated, !field.keepsZero, value == .string("") || value == .number("0") || value == .bool(false) { continue }
                if field.repeated {
                    var list = object[field.name]?.arrayValue ?? []
                    list.append(value)
                    object[field.name] = .array(list)
                } else {
                    object[field.name] = value
                }
            }
        }
        for message in embedded { object[message.name] = .object(try self.message(message.bytes[...], message.schema)) }
        return object
    }

    static func decodeValue(_ wire: ProtobufReader.WireValue, _ type: FieldType) throws -> JSON {
        switch (type, wire) {
        case (.string, .bytes(let b)): return .string(String(decoding: b, as: UTF8.self))
        case (.bytes, .bytes(let b)): return .string(Data(b).base64EncodedString())
        case (.int64, .varint(let v)): return .number(String(Int64(bitPattern: v)))
        case (.int32, .varint(let v)): return .number(String(Int32(truncatingIfNeeded: v)))
        case (.bool, .varint(let v)): return .bool(v != 0)
        case (.message(let schema), .bytes(let b)): return .object(try message(b, schema))
        case (.time, .bytes(let b)), (.microTime, .bytes(let b)):
            var r = ProtobufReader(b)
            var seconds: Int64 = 0, nanos: Int32 = 0
            while !r.atEnd {
                let (n, v) = try r.field()
                if case .varint(let x) = v {
                    if n == 1 { seconds = Int64(bitPattern: x) }
                    if n == 2 { nanos = Int32(truncatingIfNeeded: x) }
                }
            }
            if case .microTime = type { return .string(Timestamp.format(seconds: seconds, microseconds: nanos / 1000)) }
            return .string(Timestamp.format(seconds: seconds))
        case (.stringMap, .bytes(let b)), (.bytesMap, .bytes(let b)):
            var r = ProtobufReader(b)
            var key = "", value: JSON = ""
            while !r.atEnd {
                let (n, v) = try r.field()
                guard case .bytes(let s) = v else { continue }
                if n == 1 { key = String(decoding: s, as: UTF8.self) }
                if n == 2 {
                    if case .bytesMap = type { value = .string(Data(s).base64EncodedString()) } else { value = .string(String(decoding: s, as: UTF8.self)) }
                }
            }
            return .array([.string(key), value])
        default:
            throw ProtobufReader.Malformed()
        }
    }
}
