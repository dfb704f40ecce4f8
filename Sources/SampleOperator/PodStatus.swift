import KubeModel

/// What a pod's status says, as the CloneSet controller and the node simulator both read it.
enum PodStatus {
    /// The pod's Ready condition is True.
    static func isReady(_ pod: JSON) -> Bool {
        pod["status"]?["conditions"]?.arrayValue?.contains {
            $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True"
        } ?? false
    }

    /// Whether a pod's containers run the images its spec names (after an in-place update they
    /// do not, until the kubelet — here the node simulator — has restarted them).
    static func runsSpecImages(_ pod: JSON) -> Bool {
        let statuses = pod["status"]?["containerStatuses"]?.arrayValue ?? []
        guard !statuses.isEmpty else { return true }
        for container in pod["spec"]?["containers"]?.arrayValue ?? [] {
            let status = statuses.first { $0["name"] == container["name"] }
            if let status, status["image"] != container["image"] { return false }
        }
        return true
    }
}
