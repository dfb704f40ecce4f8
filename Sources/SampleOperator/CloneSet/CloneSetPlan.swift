/// What one reconcile of a CloneSet does, decided from the spec and the pods it owns. Pure,
/// so scaling and rollout rules are tested without an API server.
///
/// One phase at a time, as Kruise does: explicit deletions and scaling first; a rolling update
/// only once the replica count is right. The update keeps `partition` pods at old revisions,
/// never lets more than `maxUnavailable` pods be unavailable (updating a pod that is already
/// unavailable costs nothing), updates in place when only container images changed and the
/// strategy allows it, and otherwise recreates (deletes; the next scale-up creates the pod at
/// the new revision), except under `InPlaceOnly`, which never recreates.
enum CloneSetPlan {
    struct Pod: Equatable {
        var name: String
        var uid: String
        var revision: String
        /// The hash of the template the pod was made from, with images left out.
        var imagelessRevision: String
        var ready: Bool
        /// Its containers are restarting after an in-place update.
        var updating: Bool
        var creationTimestamp: String
        var available: Bool { ready && !updating }
    }

    enum Step: Equatable {
        case create(Int)
        case delete(Pod)
        case updateInPlace(Pod)
        /// Delete for recreation at the new revision.
        case recreate(Pod)
    }

    static func plan(_ spec: CloneSetSpec, updateRevision: String, imagelessRevision: String, pods: [Pod]) -> [Step] {
        var steps: [Step] = []
        let named = pods.filter { spec.podsToDelete.contains($0.name) }
        steps += named.map { .delete($0) }
        let remaining = pods.filter { !spec.podsToDelete.contains($0.name) }

        let missing = spec.replicas - remaining.count
        if missing > 0 { steps.append(.create(missing)) }
        if missing < 0 {
            // Unavailable pods go first, then old revisions, then the youngest.
            let victims = remaining.sorted { a, b in
                if a.available != b.available { return !a.available }
                let aOld = a.revision != updateRevision, bOld = b.revision != updateRevision
                if aOld != bOld { return aOld }
                return a.creationTimestamp > b.creationTimestamp
            }
            steps += victims.prefix(-missing).map { .delete($0) }
        }
        if !steps.isEmpty { return steps }

        let updated = remaining.filter { $0.revision == updateRevision }.count
        var wanted = max(0, spec.replicas - spec.partition) - updated
        guard wanted > 0 else { return [] }
        var budget = spec.maxUnavailable - remaining.filter { !$0.available }.count
        let old = remaining.filter { $0.revision != updateRevision }
            .sorted { a, b in a.available != b.available ? !a.available : a.name < b.name }
        for pod in old where wanted > 0 {
            let inPlace = spec.updateType != .recreate && pod.imagelessRevision == imagelessRevision
            if !inPlace && spec.updateType == .inPlaceOnly { continue }
            if pod.available {
                guard budget > 0 else { break }
                budget -= 1
            }
            steps.append(inPlace ? .updateInPlace(pod) : .recreate(pod))
            wanted -= 1
        }
        return steps
    }
}
