import KubeModel
import MeshCore
import MeshHTTP
import NIOCore

/// A collected request's body, decoded the first time a step needs it and never again: the
/// policies' facts, a created lease's name, the lock's name and a create's key all read the
/// one decode. A body no step needs is never decoded, so an unreadable one is refused only
/// by a step that must read it.
final class DecodedBody {
    let contentType: String?
    let buffer: ByteBuffer
    private var decoded: Result<RequestBody, StatusError>?

    init(_ request: ServerRequest) {
        contentType = request.headers.first(name: "content-type")
        buffer = request.body
    }

    /// The body's bytes, copied out of the request's buffer only when a step reads them.
    lazy var bytes: [UInt8] = Array(buffer.readableBytesView)

    /// The object in the body, read as the API server will read it (`RequestBody`).
    var read: Result<RequestBody, StatusError> {
        if let decoded { return decoded }
        let read = RequestBody.read(contentType: contentType, bytes: bytes)
        decoded = read
        return read
    }

    /// The body's identity, nil when it cannot be read.
    var identity: ObjectIdentity? { try? read.get().identity }

    /// The name a create's body asks for, and its `generateName` prefix.
    var names: (name: String?, generateName: String?) {
        guard let identity else { return (nil, nil) }
        return (identity.name.isEmpty ? nil : identity.name, identity.generateName.isEmpty ? nil : identity.generateName)
    }

    /// The body as JSON: the decode's own when it read an object, else parsed as it is (a
    /// patch is not an object); nil when it is not JSON.
    var json: JSON? {
        if case .success(let body) = read, let json = body.json { return json }
        return try? JSON.parse(bytes)
    }
}
