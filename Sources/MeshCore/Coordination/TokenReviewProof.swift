import KubeModel

/// Reads what a TokenReview proved about a proxy's service-account token: the pod the token
/// is bound to (`authentication.kubernetes.io/pod-name` and `pod-uid` in the user's extras, as
/// the API server sets them for a token requested with a bound Pod), in the namespace of the
/// service account. The pod must still be the one the token was bound to (same uid): a token
/// of a deleted pod proves nothing about a new pod of the same name.
public enum TokenReviewProof {
    public static let podNameExtra = "authentication.kubernetes.io/pod-name"
    public static let podUIDExtra = "authentication.kubernetes.io/pod-uid"
    /// The audience proxies request their token for; a token for another audience is refused.
    public static let audience = "ctrlmesh-manager"

    /// The body of the TokenReview to create for `token`.
    public static func review(token: String) -> JSON {
        ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
         "spec": ["token": .string(token), "audiences": [.string(audience)]]]
    }

    /// The pod a reviewed token is bound to: its namespace, name and uid, and the service
    /// account the token is of.
    public struct BoundPod: Sendable, Equatable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var serviceAccount: String
    }

    /// The pod the reviewed token is bound to, or why it proves none.
    public static func boundPod(reviewed: JSON) -> Result<BoundPod, ProofError> {
        let status = reviewed["status"]
        guard status?["authenticated"]?.boolValue == true else {
            return .failure(ProofError("the token was not authenticated: \(status?["error"]?.stringValue ?? "no reason given")"))
        }
        if let audiences = status?["audiences"]?.arrayValue, !audiences.contains(.string(audience)) {
            return .failure(ProofError("the token is not for audience \(audience)"))
        }
        let user = status?["user"]
        let username = user?["username"]?.stringValue ?? ""
        let parts = username.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount", !parts[2].isEmpty else {
            return .failure(ProofError("the token is not a service account's (user \(username))"))
        }
        let namespace = String(parts[2])
        guard let pods = user?["extra"]?[podNameExtra]?.arrayValue, pods.count == 1, let pod = pods[0].stringValue, !pod.isEmpty,
              let uids = user?["extra"]?[podUIDExtra]?.arrayValue, uids.count == 1, let uid = uids[0].stringValue, !uid.isEmpty else {
            return .failure(ProofError("the token is not bound to a pod (request it with a bound Pod, as a projected token is)"))
        }
        return .success(BoundPod(namespace: namespace, name: pod, uid: uid, serviceAccount: String(parts[3])))
    }

    /// What the bound pod proves, given the pod of that name as it is now (nil: none): it must
    /// be the very pod the token was bound to (same uid), running as the token's service
    /// account (a token of another account bound to the pod proves nothing about it).
    public static func proof(_ bound: BoundPod, current pod: JSON?) -> Result<SessionProof, ProofError> {
        guard let pod else { return .failure(ProofError("pod \(bound.namespace)/\(bound.name) the token is bound to does not exist")) }
        guard pod.uid == bound.uid else { return .failure(ProofError("the token was bound to an earlier pod \(bound.namespace)/\(bound.name)")) }
        let account = pod["spec"]?["serviceAccountName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        guard account == bound.serviceAccount else {
            return .failure(ProofError("the token is service account \(bound.serviceAccount)'s; pod \(bound.namespace)/\(bound.name) runs as \(account)"))
        }
        return .success(.pod(namespace: bound.namespace, name: bound.name))
    }

    public struct ProofError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
