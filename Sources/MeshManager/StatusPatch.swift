import KubeClient
import KubeModel
import Logging

extension RESTClient {
    /// Merge-patches an object's status subresource. An object deleted meanwhile is skipped and
    /// other failures are logged: the next change writes the status again. Returns false when
    /// the task was cancelled, so a writer stops.
    func writeStatus(_ status: JSON, of resource: GroupVersionResource, namespace: String, name: String, logger: Logger) async -> Bool {
        do {
            _ = try await patch(resource, namespace: namespace, name: name, type: .merge, ["status": status], subresource: "status")
        } catch let error as StatusError where error.reason == .notFound {
            return true
        } catch is CancellationError {
            return false
        } catch {
            logger.warning("cannot write the status of \(resource.resource) \(namespace)/\(name): \(error)")
        }
        return true
    }
}
