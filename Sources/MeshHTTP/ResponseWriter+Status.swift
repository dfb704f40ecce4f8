import KubeModel
import NIOHTTP1

extension ResponseWriter {
    /// A Kubernetes `Status` as the whole response, with `Retry-After` when it carries a retry
    /// hint (client-go waits that long and retries 429s by itself): how the API server and
    /// the proxy both answer with an error.
    public func respond(_ status: StatusError) async {
        var headers: HTTPHeaders = ["content-type": "application/json"]
        if let seconds = status.retryAfterSeconds { headers.add(name: "retry-after", value: String(seconds)) }
        await respond(status: HTTPResponseStatus(statusCode: status.code), headers: headers, body: status.statusObject.serialized())
    }
}
