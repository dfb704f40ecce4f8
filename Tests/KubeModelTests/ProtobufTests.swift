import KubeModel
import Testing

@Suite struct KubernetesProtobufTests {
    /// Length-delimited field.
    func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
        [UInt8(number << 3 | 2), UInt8(payload.count)] + payload
    }

    func string(_ number: Int, _ s: String) -> [UInt8] { field(number, Array(s.utf8)) }

    @Test func decodesAConfigMapEnvelope() throws {
        let meta = string(1, "settings") + string(3, "team-a") + field(11, string(1, "app") + string(2, "web"))
        let object = field(1, meta) + field(2, string(1, "k") + string(2, "v"))
        let typeMeta = string(1, "v1") + string(2, "ConfigMap")
        let body = KubernetesProtobuf.magic + field(1, typeMeta) + field(2, object)
        let json = try KubernetesProtobuf.decode(body)
        #expect(json == ["apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": ["name": "settings", "namespace": "team-a", "labels": ["app": "web"]], "data": ["k": "v"]])
    }

    /// A message field given twice is the merge of both, as protobuf decoders read it (and as
    /// the proxy's identity reader does): the API server and the proxy read one body alike.
    @Test func repeatedMetadataMerges() throws {
        let object = field(1, string(1, "settings") + string(3, "team-a")) + field(1, string(3, "team-b") + field(11, string(1, "a") + string(2, "b")))
        let body = KubernetesProtobuf.magic + field(1, string(1, "v1") + string(2, "ConfigMap")) + field(2, object)
        let json = try KubernetesProtobuf.decode(body)
        #expect(json["metadata"] == ["name": "settings", "namespace": "team-b", "labels": ["a": "b"]])
    }

    @Test func rejectsUnknownKindsAndGarbage() {
        let body = KubernetesProtobuf.magic + field(1, string(1, "apps/v1") + string(2, "Deployment"))
        #expect(throws: KubernetesProtobuf.DecodeError.self) { try KubernetesProtobuf.decode(body) }
        #expect(throws: KubernetesProtobuf.DecodeError.self) { try KubernetesProtobuf.decode(KubernetesProtobuf.magic + [0xFF, 0xFF]) }
        #expect(throws: KubernetesProtobuf.DecodeError.self) { try KubernetesProtobuf.decode([1, 2, 3]) }
    }
}

@Suite struct ProtobufReaderTests {
    /// A length past Int.max once trapped (found by fuzzing): a client's protobuf body took the
    /// proxy down. It is malformed input now.
    @Test func aLengthPastIntMaxIsMalformed() {
        let body = KubernetesProtobuf.magic + [0x0A, 0x13, 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x13]
        #expect(throws: ProtobufReader.Malformed.self) { try KubernetesProtobuf.envelope(body[...]) }
        #expect(throws: KubernetesProtobuf.DecodeError.self) { try KubernetesProtobuf.decode(body) }
    }
}
