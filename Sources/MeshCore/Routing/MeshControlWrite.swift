import KubeModel

/// Writes to the mesh's own control objects, which no operator behind a proxy has reason to
/// make and which would undo the mesh's guarantees: a ShardingConfig or its status (the grant
/// record the API server's fence judges by), a fault or breaker policy, or a member's liveness
/// Lease (releasing another pod's lease makes the manager hand its keys away). The proxy
/// refuses them all, whichever shard it is; reads pass. A deletecollection of Leases is split
/// by the proxy (`deleteOwned`), which leaves the members' leases out.
public enum MeshControlWrite {
    static let meshResources: Set<String> = ["shardingconfigs", "faultinjections", "circuitbreakers"]
    static let meshGroups: Set<String> = [MeshConfig.group, MeshConfig.kusionGroup]
    static let leases = GroupResource(group: "coordination.k8s.io", resource: "leases")

    /// Why the request must be refused, or nil. `bodyName` is the name a create's body asks for.
    public static func refusal(_ info: RequestInfo, bodyName: String? = nil) -> String? {
        guard info.verb != .get, info.verb != .list, info.verb != .watch else { return nil }
        let gr = info.groupResource
        if meshGroups.contains(gr.group), meshResources.contains(gr.resource) {
            return "\(info.verb.rawValue) \(gr) refused: the mesh's own configuration is written by its administrators, not by an operator behind a proxy"
        }
        guard gr == leases, info.verb != .deletecollection else { return nil }
        if isMemberLease(gr: gr, name: info.name ?? bodyName ?? "") {
            let name = info.name ?? bodyName ?? ""
            return "\(info.verb.rawValue) \(gr) \(name) refused: it is a mesh member's liveness lease, renewed by that member's proxy alone"
        }
        return nil
    }

    /// Whether an object is a mesh member's liveness Lease: what a deletecollection of Leases
    /// the proxy splits leaves alone.
    public static func isMemberLease(gr: GroupResource, name: String) -> Bool {
        gr == leases && name.hasPrefix(MemberLeaseNames.leaseName(ofPod: ""))
    }
}
