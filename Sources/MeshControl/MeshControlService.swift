import GRPCCore
import KubeModel

/// The manager ⇄ proxy protocol as one gRPC method, `ctrlmesh.v1alpha1.MeshControl/Connect`:
/// a bidirectional stream of JSON messages (`ProxyMessage` up, `ManagerMessage` down). JSON
/// rather than protobuf keeps the messages the same objects the CRDs and `--spec-file` use.
public enum MeshControl {
    /// The metadata key a proxy's service-account token travels in (`Bearer <token>`).
    public static let authorization = "authorization"
    public static let connect = MethodDescriptor(fullyQualifiedService: "ctrlmesh.v1alpha1.MeshControl", method: "Connect",
                                                 type: .bidirectionalStreaming)
}

/// Encodes a message as UTF-8 JSON.
public struct JSONMessageSerializer<Message: JSONMessage>: MessageSerializer {
    public init() {}
    public func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        Bytes(message.json.serialized())
    }
}

/// Decodes a UTF-8 JSON message; malformed input fails the RPC with `invalidArgument`.
public struct JSONMessageDeserializer<Message: JSONMessage>: MessageDeserializer {
    public init() {}
    public func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> Message {
        do {
            let json = try bytes.withUnsafeBytes { try JSON.parse($0) }
            return try Message(json: json)
        } catch {
            throw RPCError(code: .invalidArgument, message: "malformed mesh message: \(error)")
        }
    }
}

/// The server side: each connecting proxy's session is handed to `handle`, with the request
/// metadata (its credentials), which reads the proxy's messages and writes the manager's until
/// either side ends.
public struct MeshControlService: RegistrableRPCService {
    public typealias Handler = @Sendable (_ metadata: Metadata, _ incoming: RPCAsyncSequence<ProxyMessage, any Error>,
                                          _ outgoing: RPCWriter<ManagerMessage>) async throws -> Void
    let handle: Handler

    public init(handle: @escaping Handler) {
        self.handle = handle
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: MeshControl.connect, deserializer: JSONMessageDeserializer<ProxyMessage>(),
                               serializer: JSONMessageSerializer<ManagerMessage>()) { request, _ in
            StreamingServerResponse { writer in
                try await handle(request.metadata, request.messages, writer)
                return [:]
            }
        }
    }
}
