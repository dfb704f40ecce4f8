import KubeModel

/// A minimal OpenAPI v3 surface: the index and one document per group/version with a PATCH
/// operation per kind that advertises `fieldValidation`. kubectl's default strict validation
/// then leaves validation to the server instead of failing to download a schema. Built-in
/// kinds carry no component schema, so kubectl builds strategic merge patches from its own
/// compiled-in types; CRDs carry theirs.
struct OpenAPIDocuments {
    let registry: ResourceRegistry

    /// `segments` of the path, `openapi` first.
    func document(for segments: [String]) -> JSON? {
        guard segments.count >= 2, segments[0] == "openapi", segments[1] == "v3" else { return nil }
        if segments.count == 2 { return index() }
        let gvPath = segments.dropFirst(2).joined(separator: "/")
        guard let gv = registry.groupVersions.first(where: { Self.path(of: $0) == gvPath }) else { return nil }
        return groupVersionDocument(gv)
    }

    static func path(of gv: GroupVersion) -> String {
        gv.group.isEmpty ? "api/\(gv.version)" : "apis/\(gv.group)/\(gv.version)"
    }

    func index() -> JSON {
        var paths = JSONObject()
        for gv in registry.groupVersions {
            let hash = HashRange.hex(FNV1a64.hash(groupVersionDocument(gv).serialized())).dropFirst(2)
            paths[Self.path(of: gv)] = ["serverRelativeURL": .string("/openapi/v3/\(Self.path(of: gv))?hash=\(hash.uppercased())")]
        }
        return ["paths": .object(paths)]
    }

    func groupVersionDocument(_ gv: GroupVersion) -> JSON {
        var paths = JSONObject()
        var schemas = JSONObject()
        for r in registry.resources(in: gv) {
            let gvk: JSON = ["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]
            let base = "/" + Self.path(of: gv) + (r.namespaced ? "/namespaces/{namespace}" : "")
            let operation: JSON = [
                "operationId": .string("patch\(r.kind)"),
                "parameters": [
                    ["name": "fieldValidation", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                    ["name": "dryRun", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                    ["name": "fieldManager", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
                ],
                "responses": ["200": ["description": "OK"]],
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            ]
            paths["\(base)/\(r.plural)/{name}"] = ["patch": operation]
            if var schema = r.schema {
                schema["x-kubernetes-group-version-kind"] = [gvk]
                let prefix = r.group.split(separator: ".").reversed().joined(separator: ".")
                schemas["\(prefix).\(r.version).\(r.kind)"] = schema
            }
        }
        return ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"],
                "paths": .object(paths), "components": ["schemas": .object(schemas)]]
    }
}
