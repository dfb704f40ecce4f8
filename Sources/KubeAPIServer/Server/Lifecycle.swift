import MeshHTTP
import KubeModel

/// What the API server does around a commit for kinds with a lifecycle of their own: CRDs
/// (serve their resources; remove their objects) and namespaces (empty before removal).
extension APIServer {
    func lifecycleBeforeWrite(_ object: inout JSON, old: JSON?, resource: ResourceInfo) throws(StatusError) {
        if resource.groupResource == CRDLifecycle.crdResource {
            try CRDLifecycle.validate(object, old: old)
            CRDLifecycle.fillStatus(&object, old: old)
        }
    }

    /// Commits a change with the side effects of its kind.
    @discardableResult
    func commitWithLifecycle(_ resource: ResourceInfo, _ key: ObjectKey, _ change: ObjectStore.Change,
                             precondition: ObjectStore.Precondition, new: JSON?) throws -> StoredObject {
        let gr = resource.groupResource
        if gr == CRDLifecycle.crdResource {
            switch change {
            case .put(let crd):
                // Discovery must show the resource before the CRD's watch event goes out.
                let previous = registry.state.withLock { $0.custom[key.name] }
                registry.setCustom(crdName: key.name, resources: CRDLifecycle.resources(of: crd))
                do {
                    return try store.commit(gr, key, change, precondition: precondition)
                } catch {
                    registry.setCustom(crdName: key.name, resources: previous ?? [])
                    throw error
                }
            case .delete:
                if let served = registry.state.withLock({ $0.custom[key.name] })?.first {
                    for object in store.list(served.groupResource).items {
                        _ = try? store.commit(served.groupResource, object.key, .delete, precondition: .resourceVersion(object.resourceVersion))
                    }
                }
                let deleted = try store.commit(gr, key, change, precondition: precondition)
                registry.removeCustom(crdName: key.name)
                return deleted
            }
        }
        let stored = try store.commit(gr, key, change, precondition: precondition)
        if case .delete = change, resource.namespaced, !key.namespace.isEmpty {
            let ns = store.get(Self.namespacesResource, ObjectKey(namespace: "", name: key.namespace))
            if ns?.json.deletionTimestamp != nil, namespaceIsEmpty(key.namespace) {
                _ = try finalizeNamespace(key.namespace)
            }
        }
        return stored
    }

    /// Deletes a terminating namespace's content (objects with finalizers are marked and waited
    /// for); removes the namespace once nothing is left. Returns the removed namespace.
    func finalizeNamespace(_ name: String) throws -> StoredObject? {
        for gr in store.resources() {
            guard let resource = registry.anyVersion(of: gr), resource.namespaced else { continue }
            for object in store.list(gr, namespace: name).items {
                if object.json.finalizers.isEmpty {
                    _ = try? store.commit(gr, object.key, .delete, precondition: .resourceVersion(object.resourceVersion))
                } else if object.json.deletionTimestamp == nil {
                    var marked = object.json
                    marked.setMetadata("deletionTimestamp", .string(Timestamp.now()))
                    marked.setMetadata("deletionGracePeriodSeconds", .int(0))
                    _ = try? store.commit(gr, object.key, .put(marked), precondition: .resourceVersion(object.resourceVersion))
                }
            }
        }
        guard namespaceIsEmpty(name), let ns = store.get(Self.namespacesResource, ObjectKey(namespace: "", name: name)) else { return nil }
        return try store.commit(Self.namespacesResource, ns.key, .delete, precondition: .resourceVersion(ns.resourceVersion))
    }

    func namespaceIsEmpty(_ name: String) -> Bool {
        store.resources().allSatisfy { gr in
            guard let resource = registry.anyVersion(of: gr), resource.namespaced else { return true }
            return store.count(gr, namespace: name) == 0
        }
    }
}

/// CustomResourceDefinition rules: validation, status, and the resources a CRD serves.
enum CRDLifecycle {
    static let crdResource = GroupResource(group: "apiextensions.k8s.io", resource: "customresourcedefinitions")

    static func validate(_ crd: JSON, old: JSON?) throws(StatusError) {
        var causes: [StatusError.Cause] = []
        let spec = crd["spec"] ?? .null
        if let old {
            // The name fixes group and plural; a scope change would strand every stored object.
            for field in ["group", "scope"] where spec[field] != old["spec"]?[field] {
                causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \(spec[field]?.jsonString ?? "null"): field is immutable",
                                    field: "spec.\(field)"))
            }
        }
        let group = spec["group"]?.stringValue ?? ""
        let plural = spec["names"]?["plural"]?.stringValue ?? ""
        let kind = spec["names"]?["kind"]?.stringValue ?? ""
        if group.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.group")) }
        if plural.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.names.plural")) }
        if kind.isEmpty { causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.names.kind")) }
        if let name = crd.name, !group.isEmpty, !plural.isEmpty, name != "\(plural).\(group)" {
            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group", field: "metadata.name"))
        }
        let scope = spec["scope"]?.stringValue ?? ""
        if scope != "Namespaced" && scope != "Cluster" {
            causes.append(.init(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\"", field: "spec.scope"))
        }
        let versions = spec["versions"]?.arrayValue ?? []
        if versions.isEmpty {
            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: must have exactly one version marked as storage version", field: "spec.versions"))
        } else if versions.filter({ $0["storage"]?.boolValue == true }).count != 1 {
            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: must have exactly one version marked as storage version", field: "spec.versions"))
        }
        if !causes.isEmpty {
            throw StatusError.invalid(kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", name: crd.name ?? "", causes: causes)
        }
    }

    /// `status.acceptedNames`, `storedVersions` and the NamesAccepted/Established conditions.
    static func fillStatus(_ crd: inout JSON, old: JSON?) {
        let names = crd["spec"]?["names"] ?? .null
        let kind = names["kind"]?.stringValue ?? ""
        var accepted: JSON = [
            "plural": names["plural"] ?? "", "singular": .string(names["singular"]?.stringValue ?? kind.lowercased()),
            "kind": .string(kind), "listKind": .string(names["listKind"]?.stringValue ?? kind + "List"),
        ]
        if let short = names["shortNames"] { accepted["shortNames"] = short }
        if let categories = names["categories"] { accepted["categories"] = categories }
        let storage = crd["spec"]?["versions"]?.arrayValue?.first { $0["storage"]?.boolValue == true }?["name"]?.stringValue ?? ""
        var stored = old?["status"]?["storedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !stored.contains(storage) { stored.append(storage) }
        let since = old?["status"]?["conditions"]?.arrayValue?.first?["lastTransitionTime"] ?? .string(Timestamp.now())
        crd["status"] = [
            "acceptedNames": accepted,
            "storedVersions": .array(stored.map { .string($0) }),
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "lastTransitionTime": since, "reason": "NoConflicts", "message": "no conflicts found"],
                ["type": "Established", "status": "True", "lastTransitionTime": since, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"],
            ],
        ]
    }

    /// One served resource per served version.
    static func resources(of crd: JSON) -> [ResourceInfo] {
        guard let spec = crd["spec"], let group = spec["group"]?.stringValue, let names = spec["names"],
              let plural = names["plural"]?.stringValue, let kind = names["kind"]?.stringValue else { return [] }
        let namespaced = spec["scope"]?.stringValue != "Cluster"
        return (spec["versions"]?.arrayValue ?? []).compactMap { version -> ResourceInfo? in
            guard version["served"]?.boolValue != false, let name = version["name"]?.stringValue else { return nil }
            var info = ResourceInfo(group: group, version: name, plural: plural,
                                    singular: names["singular"]?.stringValue ?? kind.lowercased(), kind: kind, namespaced: namespaced)
            info.shortNames = names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? []
            info.categories = names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? []
            info.hasStatus = version["subresources"]?["status"] != nil
            info.scale = ScaleSubresource(crd: version["subresources"]?["scale"])
            info.isCustom = true
            info.schema = version["schema"]?["openAPIV3Schema"]
            info.printerColumns = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { column in
                guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { return nil }
                return ResourceInfo.PrinterColumn(name: name, type: column["type"]?.stringValue ?? "string",
                                                  format: column["format"]?.stringValue ?? "",
                                                  description: column["description"]?.stringValue ?? "",
                                                  priority: Int(column["priority"]?.intValue ?? 0), jsonPath: path)
            }
            return info
        }
    }
}
