import KubeClient
import KubeModel
import Logging
import MeshCore

/// Writes a config's grant record (`status.grants`) for the coordinator, which sends a spec
/// that grants a unit only after the record holding that grant is written. The write is a
/// compare-and-swap on the config's resourceVersion, and a record of a later manager term is
/// never overwritten: a paused former leader cannot put back the grants it knew.
struct GrantRecorder {
    let client: RESTClient
    let logger: Logger

    /// The record written, or nil (after a pause, so a failing write is not retried in a loop).
    /// Nothing is written once `leads` says this replica no longer leads.
    func record(_ grants: ShardGrants, key: String, leads: @Sendable () -> Bool) async -> ShardGrants? {
        let parts = key.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3, leads() else {
            try? await Task.sleep(for: .milliseconds(500))
            return nil
        }
        let resource = MeshConfig.resource(group: parts[0])
        for _ in 0..<8 {
            do {
                let object = try await client.get(resource, namespace: parts[1], name: parts[2])
                if let term = object["status"]?["grants"]?["term"]?.intValue, term > grants.term {
                    logger.warning("the grants of \(key) were recorded by a later manager term (\(term) > \(grants.term)): not overwriting them")
                    break
                }
                let patch: JSON = ["metadata": ["resourceVersion": .string(object.resourceVersion ?? "")], "status": ["grants": grants.json]]
                _ = try await client.patch(resource, namespace: parts[1], name: parts[2], type: .merge, patch, subresource: "status")
                return grants
            } catch let error as StatusError where error.reason == .conflict {
                continue
            } catch is CancellationError {
                return nil
            } catch {
                logger.warning("cannot record the grants of \(key): \(error)")
                break
            }
        }
        try? await Task.sleep(for: .milliseconds(500))
        return nil
    }
}
