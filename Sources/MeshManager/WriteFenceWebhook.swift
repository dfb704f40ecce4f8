import KubeClient
import KubeModel
import Logging
import MeshCore

/// The fence where writes land, on a real kube-apiserver: a validating webhook for every
/// write a mesh proxy stamped (the stamp arrives as `userInfo.extra`, set through
/// impersonation). A write is refused when a key it touches is not recorded as granted to the
/// stamp's shard at the stamp's epoch or earlier (`GrantFence`). The leader judges by the
/// grants it recorded; another replica reads the config's record from the API server.
struct WriteFenceWebhook: Sendable {
    let client: RESTClient
    let sessions: ControlSessions
    let logger: Logger

    func review(_ admission: JSON) async -> JSON {
        let stamp: WriterStamp
        switch WriterStamp.read(extras: WriteFenceWebhook.extras(admission["userInfo"]?["extra"])) {
        case .none: return ["allowed": true]
        case .invalid(let reason): return WriteFenceWebhook.deny(reason)
        case .stamp(let read): stamp = read
        }
        guard let key = stamp.mesh else { return ["allowed": true] }
        let fence: GrantFence
        do {
            fence = try await grantFence(key)
        } catch {
            return WriteFenceWebhook.deny("the mesh fence cannot judge the write of \(stamp): \(error)")
        }
        let gr = GroupResource(group: admission["resource"]?["group"]?.stringValue ?? "", resource: admission["resource"]?["resource"]?.stringValue ?? "")
        let namespace = admission["namespace"]?.stringValue ?? ""
        var old = WriteFenceWebhook.identity(admission["oldObject"])
        var new = WriteFenceWebhook.identity(admission["object"])
        let subresource = admission["subResource"]?.stringValue ?? ""
        if gr == GroupResource(group: "", resource: "pods"), subresource == "eviction" || subresource == "binding" {
            // The object under review is the Eviction or Binding: judge the pod it acts on.
            do {
                old = ObjectIdentity(json: try await client.get(.pods, namespace: namespace, name: admission["name"]?.stringValue ?? ""))
            } catch {
                return WriteFenceWebhook.deny("the mesh fence cannot read the pod the \(subresource) acts on: \(error)")
            }
            new = nil
        }
        if admission["operation"]?.stringValue == "DELETE" { new = nil }
        var labels: [String: [String: String]] = [:]
        if fence.usesNamespaceLabels {
            for name in Set([old, new].compactMap { $0 }.map { gr.resource == "namespaces" && gr.group.isEmpty ? $0.name : $0.namespace }) {
                labels[name] = (try? await client.get(.namespaces, name: name))?.labels
            }
        }
        if let refusal = fence.refusal(stamp, gr: gr, old: old, new: new, namespaceLabels: { labels[$0] ?? nil }) {
            logger.warning("\(refusal)")
            return WriteFenceWebhook.deny(refusal)
        }
        return ["allowed": true]
    }

    /// The leader's recorded grants, else the record as the API server has it now.
    func grantFence(_ key: String) async throws -> GrantFence {
        if let coordinator = sessions.leader.withLock({ $0?.coordinator }), let (config, grants) = await coordinator.recordedGrants(key: key) {
            return GrantFence(config: config, grants: grants)
        }
        let parts = key.split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3 else { throw StatusError.badRequest("\(key) does not name a ShardingConfig") }
        let object = try await client.get(MeshConfig.resource(group: parts[0]), namespace: parts[1], name: parts[2])
        let config = try MeshConfig(object: object)
        return GrantFence(config: config, grants: ShardGrants(json: object["status"]?["grants"], unitCount: config.unitCount) ?? ShardGrants())
    }

    static func identity(_ object: JSON?) -> ObjectIdentity? {
        guard let object, case .object = object else { return nil }
        return ObjectIdentity(json: object)
    }

    static func extras(_ json: JSON?) -> [String: [String]] {
        guard case .object(let object)? = json else { return [:] }
        var extras: [String: [String]] = [:]
        for (key, value) in object { extras[key] = (value.arrayValue ?? []).compactMap(\.stringValue) }
        return extras
    }

    static func deny(_ message: String) -> JSON {
        ["allowed": false,
         "status": ["apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 403, "reason": "Forbidden", "message": .string(message)]]
    }
}
