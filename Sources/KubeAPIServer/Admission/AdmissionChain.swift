import AsyncHTTPClient
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Calls the admission webhooks registered in the store: mutating webhooks in order (with one
/// reinvocation round for `reinvocationPolicy: IfNeeded`), then validating webhooks.
final class AdmissionChain: Sendable {
    let store: ObjectStore
    let timeout: Duration
    let logger: Logger
    let client: HTTPClient

    static let mutatingResource = GroupResource(group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations")
    static let validatingResource = GroupResource(group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations")

    init(store: ObjectStore, timeout: Duration, logger: Logger) {
        self.store = store
        self.timeout = timeout
        self.logger = logger
        // The process-wide client: it needs no shutdown, so an API server can be released on
        // any thread (an event loop included).
        self.client = HTTPClient.shared
    }

    /// Webhooks of every configuration of a kind, in configuration-name order.
    func webhooks(_ gr: GroupResource) -> [JSON] {
        store.list(gr).items.flatMap { $0.json["webhooks"]?.arrayValue ?? [] }
    }

    func applies(_ webhook: JSON, _ a: AdmissionAttributes, object: JSON?, old: JSON?) throws(StatusError) -> Bool {
        // Webhook configurations themselves are never sent to webhooks.
        if a.resource.group == "admissionregistration.k8s.io" { return false }
        let matcher = WebhookMatcher(webhook: webhook)
        guard matcher.matchesRules(a) else { return false }
        var namespaceLabels: [String: String]?
        if a.resource.groupResource == GroupResource(group: "", resource: "namespaces") {
            namespaceLabels = (object ?? old)?.labels ?? [:]
        } else if a.resource.namespaced {
            namespaceLabels = store.get(GroupResource(group: "", resource: "namespaces"), ObjectKey(namespace: "", name: a.namespace))?.labels ?? [:]
        }
        return try matcher.matchesSelectors(namespaceLabels: namespaceLabels, object: object, old: old)
    }

    /// The object as the mutating webhooks left it; nil when none changed it (the common case,
    /// so callers skip re-applying their rules).
    func mutate(_ object: JSON, old: JSON?, attributes: AdmissionAttributes) async throws(StatusError) -> JSON? {
        let hooks = webhooks(Self.mutatingResource)
        if hooks.isEmpty { return nil }
        var current = object
        var changedAfter: [Int: Bool] = [:]
        for (i, hook) in hooks.enumerated() where try applies(hook, attributes, object: current, old: old) {
            let before = current
            current = try await call(hook, mutating: true, object: current, old: old, attributes: attributes)
            if current != before {
                for j in changedAfter.keys where j != i { changedAfter[j] = true }
            }
            changedAfter[i] = changedAfter[i] ?? false
        }
        // Reinvoke IfNeeded webhooks whose input changed after they ran, once.
        for (i, hook) in hooks.enumerated() where changedAfter[i] == true && hook["reinvocationPolicy"]?.stringValue == "IfNeeded" {
            current = try await call(hook, mutating: true, object: current, old: old, attributes: attributes)
        }
        return current == object ? nil : current
    }

    func validate(_ object: JSON?, old: JSON?, attributes: AdmissionAttributes) async throws(StatusError) {
        for hook in webhooks(Self.validatingResource) where try applies(hook, attributes, object: object, old: old) {
            _ = try await call(hook, mutating: false, object: object ?? .null, old: old, attributes: attributes)
        }
    }

    /// One webhook call; returns the (patched) object. Honours failurePolicy.
    func call(_ hook: JSON, mutating: Bool, object: JSON, old: JSON?, attributes a: AdmissionAttributes) async throws(StatusError) -> JSON {
        let name = hook["name"]?.stringValue ?? "<unnamed>"
        let uid = UUID().uuidString.lowercased()
        let resource: JSON = ["group": .string(a.resource.group), "version": .string(a.resource.version), "resource": .string(a.resource.plural)]
        let kind: JSON = ["group": .string(a.resource.group), "version": .string(a.resource.version), "kind": .string(a.resource.kind)]
        var request: JSON = [
            "uid": .string(uid), "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
            "name": .string(a.name), "namespace": .string(a.namespace), "operation": .string(a.operation.rawValue),
            "userInfo": RequestUser.current.json,
            "object": a.operation == .delete ? .null : object, "oldObject": old ?? .null, "dryRun": .bool(a.dryRun),
        ]
        if let sub = a.subresource { request["subResource"] = .string(sub); request["requestSubResource"] = .string(sub) }
        request["options"] = [
            "kind": .string(a.operation == .create ? "CreateOptions" : a.operation == .update ? "UpdateOptions" : "DeleteOptions"),
            "apiVersion": "meta.k8s.io/v1",
        ]
        let review: JSON = ["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request]
        let failOpen = hook["failurePolicy"]?.stringValue == "Ignore"
        let response: JSON
        do {
            response = try await post(review, to: hook)
        } catch {
            if failOpen {
                logger.warning("webhook call failed, ignored by failurePolicy", metadata: ["webhook": "\(name)", "error": "\(error)"])
                return object
            }
            throw StatusError.internalError("failed calling webhook \"\(name)\": \(error)")
        }
        guard let result = response["response"], result["uid"]?.stringValue == uid else {
            if failOpen { return object }
            throw StatusError.internalError("failed calling webhook \"\(name)\": the response does not match the request uid")
        }
        if result["allowed"]?.boolValue != true {
            let status = result["status"]
            let code = Int(status?["code"]?.intValue ?? 403)
            let message = status?["message"]?.stringValue ?? ""
            throw StatusError(code: code == 0 ? 403 : code, reason: code == 0 || code == 403 ? .forbidden : .badRequest,
                              message: "admission webhook \"\(name)\" denied the request" + (message.isEmpty ? "" : ": \(message)"))
        }
        guard mutating, let patch = result["patch"]?.stringValue else { return object }
        guard result["patchType"]?.stringValue == "JSONPatch", let data = Data(base64Encoded: patch),
              let operations = try? JSON.parse(Array(data)) else {
            throw StatusError.internalError("webhook \"\(name)\" returned an invalid patch")
        }
        do {
            return try JSONPatch.apply(operations, to: object)
        } catch {
            throw StatusError.internalError("webhook \"\(name)\" returned a patch that does not apply: \(error)")
        }
    }

    struct WebhookCallError: Error, CustomStringConvertible {
        var description: String
    }

    func post(_ review: JSON, to hook: JSON) async throws -> JSON {
        let config = hook["clientConfig"] ?? .null
        var url: String
        if let u = config["url"]?.stringValue {
            url = u
        } else if let service = config["service"] {
            // In-cluster Services do not exist here; the name is used as a host, and fails to
            // resolve unless the environment maps it.
            let port = service["port"]?.intValue ?? 443
            url = "https://\(service["name"]?.stringValue ?? "").\(service["namespace"]?.stringValue ?? "").svc:\(port)\(service["path"]?.stringValue ?? "")"
        } else {
            throw WebhookCallError(description: "clientConfig has neither url nor service")
        }
        let seconds = hook["timeoutSeconds"]?.intValue.map { Int64($0) } ?? Int64(timeout.components.seconds)
        url += (url.contains("?") ? "&" : "?") + "timeout=\(seconds)s"
        var tls: TLSConfiguration?
        if url.hasPrefix("https://") {
            var t = TLSConfiguration.makeClientConfiguration()
            if let bundle = config["caBundle"]?.stringValue, let pem = Data(base64Encoded: bundle) {
                t.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem)))
            }
            tls = t
        }
        var request = try HTTPClient.Request(url: url, method: .POST, headers: ["content-type": "application/json", "accept": "application/json"],
                                             body: .bytes(review.serialized()), tlsConfiguration: tls)
        request.headers.replaceOrAdd(name: "content-type", value: "application/json")
        let response = try await client.execute(request: request, deadline: .now() + .seconds(seconds)).get()
        guard response.status == .ok, let body = response.body else {
            throw WebhookCallError(description: "webhook answered HTTP \(response.status.code)")
        }
        return try JSON.parse(body.readableBytesView)
    }
}
