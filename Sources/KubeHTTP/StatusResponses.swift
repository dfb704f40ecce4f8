import KubeModel
import MeshHTTP
import NIOHTTP1

// Kubernetes answers over the transport: a `Status` as a whole response, whichever writer
// sends it. MeshHTTP itself knows nothing of Kubernetes.

extension StatusError {
    /// A `Status` as a whole response, with `Retry-After` when it carries a retry hint
    /// (client-go waits that long and retries 429s by itself): how the API server and the
    /// proxy both answer with an error.
    public var response: (status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8]) {
        var headers: HTTPHeaders = ["content-type": "application/json"]
        if let seconds = retryAfterSeconds { headers.add(name: "retry-after", value: String(seconds)) }
        return (HTTPResponseStatus(statusCode: code), headers, statusObject.serialized())
    }
}

extension ResponseWriter {
    public func respond(_ status: StatusError) async {
        let response = status.response
        await respond(status: response.status, headers: response.headers, body: response.body)
    }
}

extension Downstream {
    public func respond(_ status: StatusError) {
        let response = status.response
        respond(status: response.status, headers: response.headers, body: allocator.buffer(bytes: response.body))
    }
}
