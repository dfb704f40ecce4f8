import KubeModel
import MeshHTTP

/// The pod subresources that act on a pod through a POST of another kind: an Eviction deletes
/// it, a Binding assigns it to a node. Both answer a Success Status (201), as the API server
/// does. There are no PodDisruptionBudgets here: every eviction is allowed.
extension APIServer {
    static let podsResource = GroupResource(group: "", resource: "pods")

    /// pods/eviction: deletes the pod under the Eviction's `deleteOptions`, preconditions
    /// included.
    func evict(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        let eviction = try c.objectBody()
        try checkNames(eviction, c)
        let options = try DeleteOptions.checked(eviction["deleteOptions"].flatMap { $0.isNull ? nil : $0 } ?? .object(JSONObject())).get()
        let propagation = try DeletePropagation(options: options, query: QueryParameters())
        _ = try await delete(c, options: options, propagation: propagation, dryRun: dryRun)
        await writeJSON(Self.success(code: 201), status: .created, writer: writer)
    }

    /// pods/binding: sets `spec.nodeName`. The Binding's own uid and resourceVersion, when set,
    /// are preconditions on the pod; a pod already on a node is a conflict.
    func bind(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        let binding = try c.objectBody()
        try checkNames(binding, c)
        guard let node = binding["target"]?["name"]?.stringValue, !node.isEmpty else {
            throw StatusError.invalid(kind: "Binding", group: "", name: c.key.name, causes: [
                .init(reason: "FieldValueRequired", message: "Required value", field: "target.name"),
            ])
        }
        for _ in 0..<Self.maxRetries {
            guard let old = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
            if let uid = binding.uid, !uid.isEmpty, uid != old.uid {
                throw StatusError.conflict(c.gr, c.key.name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old.uid)")
            }
            if let rv = binding.resourceVersion, !rv.isEmpty, rv != String(old.resourceVersion) {
                throw StatusError.conflict(c.gr, c.key.name, "the object has been modified; please apply your changes to the latest version and try again")
            }
            if let bound = old.json["spec"]?["nodeName"]?.stringValue, !bound.isEmpty {
                throw StatusError.conflict(c.gr, c.key.name, "pod \(c.key.name) is already assigned to node \"\(bound)\"")
            }
            var pod = old.json
            pod.setValue(.string(node), at: ["spec", "nodeName"])
            do {
                if !dryRun { try store.commit(c.gr, c.key, .put(pod), precondition: .resourceVersion(old.resourceVersion)) }
                return await writeJSON(Self.success(code: 201), status: .created, writer: writer)
            } catch is StoreConflict {
                continue
            }
        }
        throw StatusError.staleResourceVersion(c.gr, c.key.name)
    }

    func checkNames(_ object: JSON, _ c: RequestContext) throws(StatusError) {
        if let name = object.name, !name.isEmpty, name != c.key.name {
            throw StatusError.badRequest("name in URL does not match name in \(object.kind ?? "the body"): \(name)")
        }
        if let namespace = object.namespace, !namespace.isEmpty, namespace != c.key.namespace {
            throw StatusError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
    }

    static func success(code: Int) -> JSON {
        ["kind": "Status", "apiVersion": "v1", "metadata": .object(JSONObject()), "status": "Success", "code": .int(code)]
    }
}
