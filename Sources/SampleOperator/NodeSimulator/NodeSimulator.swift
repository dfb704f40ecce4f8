import Foundation
import KubeClient
import KubeModel
import Logging
import OperatorRuntime

/// Plays the kubelet for a machine that runs no containers, as kwok does: every pod is
/// reported Running and Ready with its containers started from the images its spec names.
/// After an in-place image change the container is "restarted": its status takes the new
/// image and its restart count goes up. Built on the operator runtime like any controller.
public final class NodeSimulator: Sendable {
    let client: RESTClient
    let podInformer: Informer
    let nodeName: String

    public init(manager: Manager, nodeName: String = "ctrlmesh-node", workers: Int = 4) {
        client = manager.client
        self.nodeName = nodeName
        podInformer = manager.informers.informer(for: GroupVersionResource.pods)
        manager.addController(.init(name: "node-simulator", for: GroupVersionResource.pods, kind: "Pod", workers: workers)) { [self] request in
            try await self.reconcile(request)
        }
    }

    func reconcile(_ request: ReconcileRequest) async throws -> ReconcileResult {
        guard let cached = podInformer.cache.get(namespace: request.namespace, name: request.name) else { return .done }
        let pod = cached.json
        guard pod.deletionTimestamp == nil, let status = Self.desiredStatus(pod, nodeName: nodeName) else { return .done }
        do {
            _ = try await client.patch(GroupVersionResource.pods, namespace: request.namespace, name: request.name, type: .merge,
                                       ["status": status], subresource: "status")
        } catch let error as StatusError where error.reason == .notFound {
            // Deleted meanwhile.
        }
        return .done
    }

    /// The status a kubelet would report, or nil when the pod already shows it.
    static func desiredStatus(_ pod: JSON, nodeName: String) -> JSON? {
        let current = pod["status"]
        let containers = pod["spec"]?["containers"]?.arrayValue ?? []
        let previous = current?["containerStatuses"]?.arrayValue ?? []
        let ready = PodStatus.isReady(pod)
        let imagesMatch = containers.count == previous.count && containers.allSatisfy { container in
            previous.contains { $0["name"] == container["name"] && $0["image"] == container["image"] }
        }
        if ready && imagesMatch && current?["phase"]?.stringValue == "Running" { return nil }

        let now = Timestamp.now()
        let started = current?["startTime"]?.stringValue ?? now
        let statuses: [JSON] = containers.map { container in
            let before = previous.first { $0["name"] == container["name"] }
            let restarted = before != nil && before?["image"] != container["image"]
            let restarts = (before?["restartCount"]?.intValue ?? 0) + (restarted ? 1 : 0)
            return ["name": container["name"] ?? .null, "image": container["image"] ?? .null, "imageID": "",
                    "ready": true, "started": true, "restartCount": .int64(restarts),
                    "state": ["running": ["startedAt": .string(restarted || before == nil ? now : started)]]]
        }
        let conditions: [JSON] = ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map {
            ["type": .string($0), "status": "True", "lastTransitionTime": .string(now)]
        }
        let uid = pod.uid ?? ""
        let octet = Int(FNV1a64.hash(uid) % 250) + 2
        return ["phase": "Running", "conditions": .array(conditions), "containerStatuses": .array(statuses),
                "hostIP": "10.0.0.1", "podIP": .string("10.244.0.\(octet)"), "startTime": .string(started)]
    }
}
