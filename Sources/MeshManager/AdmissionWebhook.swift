import KubeModel
import Logging
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The manager's admission webhooks (AdmissionReview v1 over HTTPS):
/// `/validate-shardingconfig` rejects a ShardingConfig of either API group that the manager
/// could not use, with every problem named by its field path; `/validate-policy` does the same
/// for FaultInjections and CircuitBreakers; `/inject` adds the proxy sidecar to selected
/// operator pods (`SidecarInjector`); `/fence-writes` refuses writes stamped by a mesh proxy
/// whose shard no longer holds the keys they touch (`WriteFenceWebhook`).
struct AdmissionWebhook: HTTPResponder {
    let logger: Logger
    var injector: SidecarInjector?
    var fence: WriteFenceWebhook?

    func respond(to request: ServerRequest, writer: ResponseWriter) async {
        guard request.method == .POST else {
            return await writer.respond(status: .methodNotAllowed, headers: ["content-type": "text/plain"], body: Array("POST an AdmissionReview\n".utf8))
        }
        let review: JSON
        do {
            review = try JSON.parse(Array(buffer: request.body))
        } catch {
            return await writer.respond(status: .badRequest, headers: ["content-type": "text/plain"], body: Array("malformed AdmissionReview: \(error)\n".utf8))
        }
        guard let admission = review["request"], let uid = admission["uid"]?.stringValue else {
            return await writer.respond(status: .badRequest, headers: ["content-type": "text/plain"], body: Array("AdmissionReview without request.uid\n".utf8))
        }
        var response: JSON
        switch request.path {
        case "/validate-shardingconfig": response = AdmissionWebhook.validateShardingConfig(admission)
        case "/validate-policy": response = AdmissionWebhook.validatePolicy(admission)
        case "/fence-writes":
            guard let fence else { return await writer.respond(status: .notFound, headers: [:], body: []) }
            response = await fence.review(admission)
        case "/inject":
            guard let injector else { return await writer.respond(status: .notFound, headers: [:], body: []) }
            response = await injector.review(admission)
        default:
            return await writer.respond(status: .notFound, headers: ["content-type": "text/plain"], body: Array("not found\n".utf8))
        }
        response.setValue(.string(uid), at: ["uid"])
        let body: JSON = ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response]
        await writer.respond(status: .ok, headers: ["content-type": "application/json"], body: body.serialized())
    }

    static func validateShardingConfig(_ admission: JSON) -> JSON {
        validate(admission) { object throws(FieldErrors) in _ = try MeshConfig(object: object) }
    }

    static func validatePolicy(_ admission: JSON) -> JSON {
        validate(admission) { object throws(FieldErrors) in _ = try PolicyDocument(object: object) }
    }

    /// Allows the object when `parse` accepts it; otherwise a 422 Invalid naming every problem,
    /// in the API server's wording (`Kind.group "name" is invalid: …`).
    static func validate(_ admission: JSON, parse: (JSON) throws(FieldErrors) -> Void) -> JSON {
        guard let object = admission["object"], !object.isNull else { return ["allowed": true] }
        do {
            try parse(object)
            return ["allowed": true]
        } catch {
            let name = object["metadata"]?["name"]?.stringValue ?? ""
            let kind = object["kind"]?.stringValue ?? ""
            return ["allowed": false,
                    "status": ["apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 422, "reason": "Invalid",
                               "message": .string("\(kind).\(object["apiVersion"]?.stringValue?.split(separator: "/").first ?? "") \"\(name)\" is invalid: \(error.description)")]]
        }
    }
}
