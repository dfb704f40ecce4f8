import KubeModel

/// Whether a pod's containers run the images its spec names (after an in-place update they do
/// not, until the kubelet — here the node simulator — has restarted them).
enum PodImages {
    static func running(_ pod: JSON) -> Bool {
        let statuses = pod["status"]?["containerStatuses"]?.arrayValue ?? []
        guard !statuses.isEmpty else { return true }
        for container in pod["spec"]?["containers"]?.arrayValue ?? [] {
            let status = statuses.first { $0["name"] == container["name"] }
            if let status, status["image"] != container["image"] { return false }
        }
        return true
    }
}
