/// How a proxy's liveness lease is named and marked, shared by the proxy that renews it and
/// the manager that watches it.
public enum MemberLeaseNames {
    /// Label on every member lease (value "true").
    public static let memberLabel = "ctrlmesh.kruise.io/member"
    /// Annotation naming the operator pod the lease stands for.
    public static let podAnnotation = "ctrlmesh.kruise.io/pod"

    public static func leaseName(ofPod pod: String) -> String { "ctrlmesh-member-\(pod)" }
}
