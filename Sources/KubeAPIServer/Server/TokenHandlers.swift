import Foundation
import KubeModel
import MeshHTTP

/// `serviceaccounts/<name>/token` (TokenRequest) and `tokenreviews` (TokenReview), served with
/// `ServiceAccountTokens`.
extension APIServer {
    static let serviceAccountsResource = GroupResource(group: "", resource: "serviceaccounts")
    static let tokenReviewsResource = GroupResource(group: "authentication.k8s.io", resource: "tokenreviews")

    /// TokenRequest: a token for the service account, for `spec.audiences` (default: this
    /// server), valid `spec.expirationSeconds` (default an hour, at least ten minutes), bound to
    /// `spec.boundObjectRef` when it names a Pod (whose uid, when given, must match).
    func requestToken(_ c: RequestContext, writer: ResponseWriter) async throws {
        let request = try c.body()
        guard let account = store.get(c.gr, c.key) else { throw StatusError.notFound(c.gr, c.key.name) }
        let spec = request["spec"]
        let audiences = spec?["audiences"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let seconds = spec?["expirationSeconds"]?.intValue ?? 3600
        guard seconds >= 600, seconds <= 1 << 32 else {
            throw StatusError.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: c.key.name, causes: [
                .init(reason: "FieldValueInvalid", message: "Invalid value: may not specify a duration less than 10 minutes", field: "spec.expirationSeconds"),
            ])
        }
        var pod: ServiceAccountTokens.Claims.BoundObject?
        if let bound = spec?["boundObjectRef"], !bound.isNull {
            guard bound["kind"]?.stringValue == "Pod", let name = bound["name"]?.stringValue, !name.isEmpty else {
                throw StatusError.badRequest("boundObjectRef must name a Pod")
            }
            guard let stored = store.get(Self.podsResource, ObjectKey(namespace: c.key.namespace, name: name)) else {
                throw StatusError.notFound(Self.podsResource, name)
            }
            if let uid = bound["uid"]?.stringValue, !uid.isEmpty, uid != stored.uid {
                throw StatusError.conflict(Self.podsResource, name, "the UID in the bound object reference (\(uid)) does not match the UID in record")
            }
            // As the API server: a token is bound only to a pod that runs as its service account.
            let runsAs = stored.json["spec"]?["serviceAccountName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
            guard runsAs == c.key.name else {
                throw StatusError.badRequest("cannot bind a token of service account \(c.key.name) to pod \(name), which runs as service account \(runsAs)")
            }
            pod = .init(name: name, uid: stored.uid)
        }
        let expires = Int64(Date().timeIntervalSince1970) + seconds
        let claims = ServiceAccountTokens.Claims(namespace: c.key.namespace, serviceAccount: c.key.name, serviceAccountUID: account.uid,
                                                 audiences: audiences.isEmpty ? [ServiceAccountTokens.defaultAudience] : audiences,
                                                 expires: expires, pod: pod)
        var answer: JSON = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "metadata": ["name": .string(c.key.name), "namespace": .string(c.key.namespace)]]
        answer.setValue(spec ?? .object(JSONObject()), at: ["spec"])
        answer.setValue(["token": .string(tokens.issue(claims)),
                         "expirationTimestamp": .string(Timestamp.format(Date(timeIntervalSince1970: TimeInterval(expires))))], at: ["status"])
        await writeJSON(answer, status: .created, writer: writer)
    }

    /// TokenReview: whose the token is, if this server signed it, it has not expired, it is
    /// for one of `spec.audiences` (default: this server) and what it is bound to still exists.
    func reviewToken(_ c: RequestContext, writer: ResponseWriter) async throws {
        let review = try c.body()
        let token = review["spec"]?["token"]?.stringValue ?? ""
        let wanted = review["spec"]?["audiences"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var status: JSON = ["authenticated": false]
        if let claims = tokens.verify(token) {
            let audiences = (wanted.isEmpty ? [ServiceAccountTokens.defaultAudience] : wanted).filter(claims.audiences.contains)
            let account = store.get(Self.serviceAccountsResource, ObjectKey(namespace: claims.namespace, name: claims.serviceAccount))
            let pod = claims.pod.flatMap { store.get(Self.podsResource, ObjectKey(namespace: claims.namespace, name: $0.name)) }
            if claims.expires <= Int64(Date().timeIntervalSince1970) {
                status.setValue("the token has expired", at: ["error"])
            } else if audiences.isEmpty {
                status.setValue("the token is not for any of the audiences asked for", at: ["error"])
            } else if account?.uid != claims.serviceAccountUID {
                status.setValue(.string("service account \(claims.namespace)/\(claims.serviceAccount) has been deleted"), at: ["error"])
            } else if let bound = claims.pod, pod?.uid != bound.uid {
                status.setValue(.string("pod \(claims.namespace)/\(bound.name) the token is bound to has been deleted"), at: ["error"])
            } else {
                var user: JSON = ["username": .string("system:serviceaccount:\(claims.namespace):\(claims.serviceAccount)"),
                                  "uid": .string(claims.serviceAccountUID),
                                  "groups": ["system:serviceaccounts", .string("system:serviceaccounts:\(claims.namespace)"), "system:authenticated"]]
                if let bound = claims.pod {
                    user.setValue(["authentication.kubernetes.io/pod-name": [.string(bound.name)],
                                   "authentication.kubernetes.io/pod-uid": [.string(bound.uid)]], at: ["extra"])
                }
                status = ["authenticated": true, "user": user, "audiences": .array(audiences.map { .string($0) })]
            }
        }
        var answer: JSON = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": ["creationTimestamp": .null]]
        answer.setValue(review["spec"] ?? .object(JSONObject()), at: ["spec"])
        answer.setValue(status, at: ["status"])
        await writeJSON(answer, status: .created, writer: writer)
    }
}
