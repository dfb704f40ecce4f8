import KubeModel
import MeshHTTP

/// `GET`, `PUT` and `PATCH` of `…/scale`: the object seen as an `autoscaling/v1` Scale, and
/// writes of the Scale's `spec.replicas` into the object (through the ordinary update path).
extension APIServer {
    func serveScale(_ c: RequestContext, _ scale: ScaleSubresource, writer: ResponseWriter) async throws {
        switch c.info.verb {
        case .get:
            guard let object = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
            await writeJSON(scale.view(of: object.json), writer: writer)
        case .update:
            let dryRun = try c.checkDryRun()
            let body = try c.body()
            let requestedRV = body.resourceVersion.flatMap { $0.isEmpty ? nil : $0 }
            try await guaranteedUpdate(c, dryRun: dryRun, explicitResourceVersion: requestedRV, writer: writer,
                                       present: scale.view) { old in
                try scale.applying(body, to: old.json)
            }
        case .patch:
            let dryRun = try c.checkDryRun()
            // Scale is a built-in type: strategic merge applies even to custom resources' scale.
            let (apply, patchBody) = try patchFunction(c, strategic: true)
            let requestedRV = patchBody["metadata"]?["resourceVersion"]?.stringValue
            try await guaranteedUpdate(c, dryRun: dryRun, explicitResourceVersion: requestedRV, writer: writer,
                                       present: scale.view) { old in
                try scale.applying(try apply(scale.view(of: old.json)), to: old.json)
            }
        default:
            throw StatusError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }
}
