import Foundation
import KubeClient
import KubeModel
import MeshCore

/// Creates or updates the manager's webhook configurations, pointing at `url` and trusting
/// the CA this replica generated: a ValidatingWebhookConfiguration for ShardingConfigs,
/// FaultInjections and CircuitBreakers of both API groups (failurePolicy Fail), and a MutatingWebhookConfiguration injecting the proxy
/// into Pods (failurePolicy Ignore: an unreachable manager must not stop pods being created;
/// such a pod runs without the proxy, which leaves the mesh's keys alone).
public enum WebhookRegistration {
    static let validating = GroupVersionResource(group: "admissionregistration.k8s.io", version: "v1", resource: "validatingwebhookconfigurations")
    static let mutating = GroupVersionResource(group: "admissionregistration.k8s.io", version: "v1", resource: "mutatingwebhookconfigurations")
    public static let validatingName = "ctrlmesh-validation"
    public static let mutatingName = "ctrlmesh-injection"

    public static func register(client: RESTClient, url: String, caPEM: String, injection: Bool) async throws {
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
