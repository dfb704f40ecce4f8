import MeshHTTP
import KubeModel
import NIOHTTP1

/// create, update, patch, delete and deletecollection.
extension APIServer {
    static let namespacesResource = GroupResource(group: "", resource: "namespaces")
    /// Re-reads and retries when a concurrent writer got in between (patches, unconditional
    /// updates), as the API server's GuaranteedUpdate does.
    static let maxRetries = 16

    func create(_ c: RequestContext, writer: ResponseWriter) async throws {
        if c.info.subresource != nil { throw StatusError.methodNotAllowed("create is not allowed on subresources") }
        if c.info.name != nil { throw StatusError.methodNotAllowed("POST to a named object is not allowed") }
        let dryRun = try c.checkDryRun()
        var object = try c.objectBody()
        try ObjectRules.checkBody(&object, info: c.resource, urlNamespace: c.info.namespace)
        try ObjectRules.normalizeBuiltin(&object, info: c.resource)
        if c.resource.namespaced { try checkNamespaceAcceptsCreate(object.namespace ?? "") }
        let generateName = object.generateName ?? ""
        if (object.name ?? "").isEmpty, !generateName.isEmpty {
            object.setMetadata("name", .string(ObjectRules.generatedName(prefix: generateName)))
        }
        let attributes = AdmissionAttributes(operation: .create, resource: c.resource, subresource: nil,
                                             namespace: object.namespace ?? "", name: object.name ?? "", dryRun: dryRun)
        object = try await admission.mutate(object, old: nil, attributes: attributes) ?? object
        try ObjectRules.validate(object, info: c.resource)
        ObjectRules.prepareCreate(&object, info: c.resource, now: Timestamp.now())
        try lifecycleBeforeWrite(&object, old: nil, resource: c.resource)
        try await admission.validate(object, old: nil, attributes: attributes)
        if dryRun { return await writeJSON(object, status: .created, writer: writer) }

        var attempt = 0
        while true {
            let key = ObjectKey(namespace: object.namespace ?? "", name: object.name ?? "")
            do {
                let stored = try commitWithLifecycle(c.resource, key, .put(object), precondition: .mustNotExist, new: object)
                return await writeJSONBytes(servedBytes(stored, as: c.resource), status: .created, writer: writer)
            } catch let error as StatusError where error.reason == .alreadyExists && !generateName.isEmpty && attempt < 8 {
                // A generated name collided: draw another.
                attempt += 1
                object.setMetadata("name", .string(ObjectRules.generatedName(prefix: generateName)))
            }
        }
    }

    func update(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        var body = try c.objectBody()
        try ObjectRules.checkBody(&body, info: c.resource, urlNamespace: c.info.namespace)
        if let name = body.name, name != c.key.name {
            throw StatusError.badRequest("the name of the object (\(name)) does not match the name on the URL (\(c.key.name))")
        }
        if (body.name ?? "").isEmpty { body.setMetadata("name", .string(c.key.name)) }
        let requestedRV = body.resourceVersion.flatMap { $0.isEmpty ? nil : $0 }
        try await guaranteedUpdate(c, dryRun: dryRun, explicitResourceVersion: requestedRV, writer: writer) { _ in body }
    }

    func patch(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        let (apply, patchBody) = try patchFunction(c, strategic: !c.resource.isCustom)
        // A resourceVersion in a merge or strategic patch is a precondition.
        let requestedRV = patchBody["metadata"]?["resourceVersion"]?.stringValue
        try await guaranteedUpdate(c, dryRun: dryRun, explicitResourceVersion: requestedRV, writer: writer) { old in
            try apply(old.json)
        }
    }

    /// The request's patch as a function of the document it applies to, chosen by
    /// Content-Type (strategic merge only where the type allows it), and the patch itself.
    func patchFunction(_ c: RequestContext, strategic: Bool) throws -> (@Sendable (JSON) throws -> JSON, JSON) {
        let contentType = (c.request.headers.first(name: "content-type") ?? "").split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let patchBody = try c.body()
        let apply: @Sendable (JSON) throws(PatchError) -> JSON
        switch contentType {
        case "application/merge-patch+json":
            guard case .object = patchBody else { throw StatusError.badRequest("merge patch must be a JSON object") }
            apply = { MergePatch.apply(patchBody, to: $0) }
        case "application/json-patch+json":
            apply = { document throws(PatchError) in try JSONPatch.apply(patchBody, to: document) }
        case "application/strategic-merge-patch+json" where strategic:
            apply = { document throws(PatchError) in try StrategicMergePatch.apply(patchBody, to: document) }
        default:
            throw StatusError.unsupportedMediaType(contentType)
        }
        let mapped: @Sendable (JSON) throws -> JSON = { document in
            do throws(PatchError) {
                return try apply(document)
            } catch {
                throw error.status
            }
        }
        return (mapped, patchBody)
    }

    /// Read, transform, commit; retried on a concurrent change unless the client named the
    /// resourceVersion it expects (then 409 Conflict).
    /// `present`, when given, turns the resulting object into the response (a Scale).
    func guaranteedUpdate(_ c: RequestContext, dryRun: Bool, explicitResourceVersion: String?, writer: ResponseWriter,
                          present: ((JSON) -> JSON)? = nil, transform: (StoredObject) throws -> JSON) async throws {
        for _ in 0..<Self.maxRetries {
            guard let old = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
            if let rv = explicitResourceVersion, rv != String(old.resourceVersion) {
                throw StatusError.staleResourceVersion(c.gr, c.key.name)
            }
            var new = try transform(old)
            if let problem = ObjectMetaCheck.decodeError(new) { throw StatusError.badRequest("error decoding the object: \(problem)") }
            if new.name != nil, new.name != c.key.name { throw StatusError.badRequest("the name of the object cannot be changed") }
            if c.resource.namespaced, let namespace = new.namespace, namespace != c.key.namespace {
                throw StatusError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            if let uid = new.uid, !uid.isEmpty, uid != old.uid {
                // A uid in the body is a precondition (the proxy pins writes to the object it judged).
                throw StatusError.invalid(kind: c.resource.kind, group: c.resource.group, name: c.key.name, causes: [
                    .init(reason: "FieldValueInvalid", message: "Invalid value: \"\(uid)\": field is immutable", field: "metadata.uid"),
                ])
            }
            try ObjectRules.normalizeBuiltin(&new, info: c.resource)
            var merged = ObjectRules.mergeUpdate(old: old.json, new: new, info: c.resource, subresource: c.info.subresource)
            let attributes = AdmissionAttributes(operation: .update, resource: c.resource, subresource: c.info.subresource,
                                                 namespace: c.key.namespace, name: c.key.name, dryRun: dryRun)
            if let mutated = try await admission.mutate(merged, old: old.json, attributes: attributes) {
                // The update rules apply to what the webhooks returned, too.
                merged = ObjectRules.mergeUpdate(old: old.json, new: mutated, info: c.resource, subresource: c.info.subresource)
            }
            try ObjectRules.validate(merged, info: c.resource)
            try lifecycleBeforeWrite(&merged, old: old.json, resource: c.resource)
            try await admission.validate(merged, old: old.json, attributes: attributes)
            new = merged
            if let present {
                if new == old.json { return await writeJSON(present(old.json), writer: writer) }
                if dryRun { return await writeJSON(present(new), writer: writer) }
            }
            if new == old.json { return await writeJSONBytes(servedBytes(old, as: c.resource), writer: writer) }
            if dryRun { return await writeJSON(new, writer: writer) }
            do {
                let finishing = new.deletionTimestamp != nil && new.finalizers.isEmpty
                let stored = try commitWithLifecycle(c.resource, c.key, finishing ? .delete : .put(new),
                                                     precondition: .resourceVersion(old.resourceVersion), new: new)
                if let present { return await writeJSON(present(stored.json), writer: writer) }
                return await writeJSONBytes(servedBytes(stored, as: c.resource), writer: writer)
            } catch is StoreConflict {
                if explicitResourceVersion != nil { throw StatusError.staleResourceVersion(c.gr, c.key.name) }
            }
        }
        throw StatusError.staleResourceVersion(c.gr, c.key.name)
    }

    func delete(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        let options = try DeleteOptions.decode(contentType: c.request.headers.first(name: "content-type"), body: c.request.bodyBytes).get()
        let propagation = try DeletePropagation(options: options, query: c.query)
        let result = try await delete(c, options: options, propagation: propagation, dryRun: dryRun)
        await writeJSONBytes(servedBytes(result, as: c.resource), writer: writer)
    }

    /// Deletes the object of the request under the options' preconditions; returns it as the
    /// client should see it (as it was, for a dry run).
    func delete(_ c: RequestContext, options: JSON, propagation: DeletePropagation, dryRun: Bool) async throws -> StoredObject {
        for _ in 0..<Self.maxRetries {
            guard let old = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
            if let uid = options["preconditions"]?["uid"]?.stringValue, uid != old.uid {
                throw StatusError.conflict(c.gr, c.key.name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old.uid)")
            }
            if let rv = options["preconditions"]?["resourceVersion"]?.stringValue, rv != String(old.resourceVersion) {
                throw StatusError.conflict(c.gr, c.key.name, "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(old.resourceVersion)")
            }
            let attributes = AdmissionAttributes(operation: .delete, resource: c.resource, subresource: nil,
                                                 namespace: c.key.namespace, name: c.key.name, dryRun: dryRun)
            try await admission.validate(nil, old: old.json, attributes: attributes)
            if dryRun { return old }
            do {
                return try deleteObject(c.resource, old, propagation: propagation)
            } catch is StoreConflict {
                continue
            }
        }
        throw StatusError.staleResourceVersion(c.gr, c.key.name)
    }

    /// Deletes now, or marks for deletion when finalizers (or a namespace's content) remain.
    /// Dependents are left to the garbage collector (background), released first (orphan), or
    /// waited for behind the `foregroundDeletion` finalizer (foreground).
    /// Returns the object as the client should see it.
    @discardableResult
    func deleteObject(_ resource: ResourceInfo, _ old: StoredObject, propagation: DeletePropagation = .background) throws -> StoredObject {
        let gr = resource.groupResource
        let isNamespace = gr == Self.namespacesResource
        if propagation == .orphan { try orphanDependents(of: old) }
        if propagation == .foreground, old.json.deletionTimestamp == nil, !isNamespace {
            var marked = old.json
            marked.setMetadata("deletionTimestamp", .string(Timestamp.now()))
            marked.setMetadata("deletionGracePeriodSeconds", .int(0))
            marked.setMetadata("finalizers", .array((old.json.finalizers + [OwnerIndex.foregroundFinalizer]).map { .string($0) }))
            return try store.commit(gr, old.key, .put(marked), precondition: .resourceVersion(old.resourceVersion))
        }
        if !old.json.finalizers.isEmpty || isNamespace {
            if old.json.deletionTimestamp != nil { return old }
            var marked = old.json
            marked.setMetadata("deletionTimestamp", .string(Timestamp.now()))
            marked.setMetadata("deletionGracePeriodSeconds", .int(0))
            marked.setMetadata("generation", .int64((old.json.generation ?? 1) + 1))
            if isNamespace { marked.setValue("Terminating", at: ["status", "phase"]) }
            if old.json.finalizers.isEmpty && !isNamespace {
                return try commitWithLifecycle(resource, old.key, .delete, precondition: .resourceVersion(old.resourceVersion), new: nil)
            }
            let stored = try store.commit(gr, old.key, .put(marked), precondition: .resourceVersion(old.resourceVersion))
            if isNamespace { return try finalizeNamespace(old.name) ?? stored }
            return stored
        }
        return try commitWithLifecycle(resource, old.key, .delete, precondition: .resourceVersion(old.resourceVersion), new: nil)
    }

    func deleteCollection(_ c: RequestContext, writer: ResponseWriter) async throws {
        let dryRun = try c.checkDryRun()
        let filter = try ObjectFilter(namespace: c.info.namespace, query: c.query, info: c.resource)
        var deleted: [StoredObject] = []
        for object in store.list(c.gr, namespace: filter.namespace).items where filter.matches(object) {
            let attributes = AdmissionAttributes(operation: .delete, resource: c.resource, subresource: nil,
                                                 namespace: object.namespace, name: object.name, dryRun: dryRun)
            try await admission.validate(nil, old: object.json, attributes: attributes)
            if dryRun { deleted.append(object); continue }
            if let result = try? deleteObject(c.resource, object) { deleted.append(result) }
        }
        let metadata: JSON = ["resourceVersion": .string(String(store.currentResourceVersion))]
        await writeJSONBytes(listBody(c.resource, metadata: metadata, items: deleted), writer: writer)
    }

    /// A namespaced create needs an existing namespace that is not terminating.
    func checkNamespaceAcceptsCreate(_ namespace: String) throws(StatusError) {
        guard let ns = store.get(Self.namespacesResource, ObjectKey(namespace: "", name: namespace)) else {
            throw StatusError.notFound(Self.namespacesResource, namespace)
        }
        if ns.json.deletionTimestamp != nil {
            throw StatusError(code: 403, reason: .forbidden,
                              message: "unable to create new content in namespace \(namespace) because it is being terminated",
                              name: namespace, kind: "namespaces")
        }
    }
}
