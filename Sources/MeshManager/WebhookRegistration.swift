import Foundation
import KubeClient
import KubeModel
import MeshCore

/// Creates or updates the manager's webhook configurations, pointing at `url` and trusting
/// the CA this replica generated: a ValidatingWebhookConfiguration for ShardingConfigs,
/// FaultInjections and CircuitBreakers of both API groups (failurePolicy Fail), and a MutatingWebhookConfiguration injecting the proxy
/// into Pods (failurePolicy Ignore: an unreachable manager must not stop pods being created;
/// such a pod runs without the proxy, which leaves the mesh's keys alone). With `fence`, a
/// ValidatingWebhookConfiguration for every write a mesh proxy stamped (failurePolicy Fail: a
/// stamped write nobody judged is refused), selected by a match condition on the stamp so no
/// other write reaches the webhook.
public enum WebhookRegistration {
    static let validating = GroupVersionResource(group: "admissionregistration.k8s.io", version: "v1", resource: "validatingwebhookconfigurations")
    static let mutating = GroupVersionResource(group: "admissionregistration.k8s.io", version: "v1", resource: "mutatingwebhookconfigurations")
    public static let validatingName = "ctrlmesh-validation"
    public static let mutatingName = "ctrlmesh-injection"
    public static let fenceName = "ctrlmesh-write-fence"

    public static func register(client: RESTClient, url: String, caPEM: String, injection: Bool, fence: Bool = false) async throws {
        let caBundle = JSON.string(Data(caPEM.utf8).base64EncodedString())
        let validation: JSON = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": ["name": .string(validatingName)],
            "webhooks": [[
                "name": "shardingconfigs.ctrlmesh.kruise.io",
                "clientConfig": ["url": .string("\(url)/validate-shardingconfig"), "caBundle": caBundle],
                "rules": [["apiGroups": [.string(MeshConfig.group), .string(MeshConfig.kusionGroup)], "apiVersions": ["v1alpha1"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["shardingconfigs"]]],
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
            ], [
                "name": "policies.ctrlmesh.kruise.io",
                "clientConfig": ["url": .string("\(url)/validate-policy"), "caBundle": caBundle],
                "rules": [["apiGroups": [.string(MeshConfig.group), .string(MeshConfig.kusionGroup)], "apiVersions": ["v1alpha1"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["faultinjections", "circuitbreakers"]]],
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
            ]],
        ]
        try await upsert(client: client, resource: validating, object: validation)
        if fence { try await upsert(client: client, resource: validating, object: fenceConfiguration(url: url, caBundle: caBundle)) }
        guard injection else { return }
        let injector: JSON = [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": ["name": .string(mutatingName)],
            "webhooks": [[
                "name": "pods.ctrlmesh.kruise.io",
                "clientConfig": ["url": .string("\(url)/inject"), "caBundle": caBundle],
                "rules": [["apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]]],
                "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
                "reinvocationPolicy": "IfNeeded",
            ]],
        ]
        try await upsert(client: client, resource: mutating, object: injector)
    }

    /// The write fence's configuration: every resource and subresource, every write, called
    /// only for requests that carry the mesh stamp in their user's extras.
    static func fenceConfiguration(url: String, caBundle: JSON) -> JSON {
        [
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": ["name": .string(fenceName)],
            "webhooks": [[
                "name": "writes.ctrlmesh.kruise.io",
                "clientConfig": ["url": .string("\(url)/fence-writes"), "caBundle": caBundle],
                "rules": [["apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE", "DELETE"],
                           "resources": ["*", "*/*"], "scope": "*"]],
                "matchConditions": [["name": "stamped-by-a-mesh-proxy",
                                     "expression": .string("'\(WriterStamp.epochKey)' in request.userInfo.extra")]],
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
            ]],
        ]
    }

    static func upsert(client: RESTClient, resource: GroupVersionResource, object: JSON) async throws {
        let name = object["metadata"]?["name"]?.stringValue ?? ""
        do {
            var current = try await client.get(resource, name: name)
            current.setValue(object["webhooks"], at: ["webhooks"])
            _ = try await client.update(resource, current)
        } catch let error as StatusError where error.reason == .notFound {
            _ = try await client.create(resource, object)
        }
    }
}
