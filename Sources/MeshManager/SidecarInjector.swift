import Foundation
import KubeClient
import KubeModel
import Logging
import MeshCore

/// The mutating webhook for Pods: a pod that a ShardingConfig in its namespace selects gets
/// the proxy (`SidecarInjection`), as a JSON patch; any other pod is admitted unchanged, and
/// so is one that already has the proxy (re-invocation adds nothing twice).
struct SidecarInjector: Sendable {
    let client: RESTClient
    let injection: SidecarInjection
    let logger: Logger

    func review(_ admission: JSON) async -> JSON {
        guard let pod = admission["object"], pod["kind"]?.stringValue == "Pod" || admission["kind"]?["kind"]?.stringValue == "Pod",
              let spec = pod["spec"] else { return ["allowed": true] }
        let namespace = admission["namespace"]?.stringValue ?? pod["metadata"]?["namespace"]?.stringValue ?? ""
        let selected: Bool
        do {
            selected = try await selectedByAConfig(namespace: namespace, labels: pod.labels)
        } catch {
            // The webhook's failurePolicy decides; say why.
            return ["allowed": false, "status": ["code": 500, "message": .string("cannot list ShardingConfigs in \(namespace): \(error)")]]
        }
        guard selected, let injected = injection.inject(podSpec: spec) else { return ["allowed": true] }
        var patch: [JSON] = [["op": "replace", "path": "/spec", "value": injected]]
        if pod["metadata"]?["annotations"] == nil {
            patch.append(["op": "add", "path": "/metadata/annotations", "value": [:]])
        }
        let escaped = SidecarInjection.injectedAnnotation.replacingOccurrences(of: "/", with: "~1")
        patch.append(["op": "add", "path": .string("/metadata/annotations/\(escaped)"), "value": "true"])
        logger.info("injecting the proxy into pod \(namespace)/\(pod["metadata"]?["name"]?.stringValue ?? pod["metadata"]?["generateName"]?.stringValue ?? "")")
        let bytes = JSON.array(patch).serialized()
        return ["allowed": true, "patchType": "JSONPatch", "patch": .string(Data(bytes).base64EncodedString())]
    }

    func selectedByAConfig(namespace: String, labels: [String: String]) async throws -> Bool {
        for resource in [MeshConfig.resource, MeshConfig.kusionResource] {
            let list: ObjectList
            do {
                list = try await client.list(resource, namespace: namespace)
            } catch let error as StatusError where error.reason == .notFound {
                continue  // that API group is not installed
            }
            for object in list.items {
                if let config = try? MeshConfig(object: object), config.podSelector.matches(labels) { return true }
            }
        }
        return false
    }
}
