import KubeHTTP
import KubeModel
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The executor for a request the pipeline answered itself (a refusal, an expired watch):
/// the answer goes out once the request has arrived whole, so the connection stays in step.
final class AnswerExchange: InlineExchange {
    let downstream: Downstream
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: [UInt8]

    init(downstream: Downstream, status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8]) {
        self.downstream = downstream
        self.status = status
        self.headers = headers
        self.body = body
    }

    convenience init(downstream: Downstream, status: StatusError, metrics: ProxyMetrics) {
        metrics.countAnswer(status)
        let response = status.response
        self.init(downstream: downstream, status: response.status, headers: response.headers, body: response.body)
    }

    func requestBody(_ buffer: ByteBuffer) {}

    func requestEnd() {
        downstream.respond(status: status, headers: headers, body: downstream.allocator.buffer(bytes: body))
    }

    func downstreamWritabilityChanged() {}
    func cancel() {}
}
