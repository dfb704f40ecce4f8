import KubeClient
import KubeModel
import Logging

/// Writes FaultInjection and CircuitBreaker status (a merge patch of the status subresource)
/// and records an Event on the policy whenever a breaker opens or closes on a pod.
struct PolicyStatusWriter {
    let client: RESTClient
    let identity: String
    let logger: Logger

    func write(_ changes: (updates: [PolicyBook.StatusUpdate], transitions: [PolicyBook.Transition])) async {
        for update in changes.updates {
            guard await client.writeStatus(update.status, of: update.resource, namespace: update.namespace, name: update.name,
                                           logger: logger) else { return }
        }
        for transition in changes.transitions {
            let opened = transition.state == "Opened"
            let now = Timestamp.now()
            let event: JSON = [
                "apiVersion": "v1", "kind": "Event",
                "metadata": ["generateName": .string(transition.name + "."), "namespace": .string(transition.namespace)],
                "involvedObject": ["apiVersion": .string("\(transition.resource.group)/\(transition.resource.version)"),
                                   "kind": .string(transition.kind), "name": .string(transition.name),
                                   "namespace": .string(transition.namespace)],
                "reason": .string(opened ? "BreakerOpened" : "BreakerClosed"),
                "message": .string("rule \(transition.rule) \(opened ? "opened" : "closed") on pod \(transition.pod)"),
                "type": .string(opened ? "Warning" : "Normal"),
                "source": ["component": "ctrlmesh-manager", "host": .string(identity)],
                "firstTimestamp": .string(now), "lastTimestamp": .string(now), "count": 1,
            ]
            do {
                _ = try await client.create(.events, namespace: transition.namespace, event)
            } catch {
                logger.warning("cannot record the breaker event for \(transition.namespace)/\(transition.name): \(error)")
            }
        }
    }
}
