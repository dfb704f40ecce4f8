import KubeClient
import KubeModel
import Logging
import OperatorRuntime

/// Reconciles `apps.kruise.io/v1alpha1` CloneSets: owns pods to match `replicas`, rolls
/// template changes (in place or by recreation, honouring `partition` and `maxUnavailable`),
/// deletes `scaleStrategy.podsToDelete`, keeps status current, and records in an annotation
/// which replica reconciled the CloneSet last. It knows nothing about sharding.
public final class CloneSetController: Sendable {
    public static let cloneSets = GroupVersionResource(group: "apps.kruise.io", version: "v1alpha1", resource: "clonesets")
    /// The annotation naming the replica that last reconciled the CloneSet.
    public static let reconciledByAnnotation = "sample.ctrlmesh.io/reconciled-by"

    let client: RESTClient
    let identity: String
    let cloneSetInformer: Informer
    let podInformer: Informer
    let expectations = Expectations()
    /// Labels stamped on every pod it creates, besides the template's (e.g. the operator version).
    let podLabels: [String: String]
    let logger: Logger

    /// Registers the controller with the manager.
    public init(manager: Manager, identity: String, workers: Int, podLabels: [String: String] = [:],
                logger: Logger = Logger(label: "ctrlmesh.cloneset")) {
        client = manager.client
        self.identity = identity
        self.podLabels = podLabels
        self.logger = logger
        cloneSetInformer = manager.informers.informer(for: Self.cloneSets)
        podInformer = manager.informers.informer(for: GroupVersionResource.pods)
        manager.addController(.init(name: "cloneset", for: Self.cloneSets, kind: "CloneSet", owns: [GroupVersionResource.pods], workers: workers)) {
            [self] request in try await self.reconcile(request)
        }
    }

    func reconcile(_ request: ReconcileRequest) async throws -> ReconcileResult {
        let key = request.description
        guard let cached = cloneSetInformer.cache.get(namespace: request.namespace, name: request.name) else {
            expectations.forget(key)
            return .done
        }
        let cloneSet = cached.json
        if cloneSet.deletionTimestamp != nil { return .done }
        let spec: CloneSetSpec
        do {
            spec = try CloneSetSpec(cloneSet)
            guard spec.selector.matches(spec.template.labels) else {
                throw CloneSetSpec.Invalid(description: "spec.selector does not match spec.template.metadata.labels")
            }
        } catch {
            // Retrying cannot fix the spec; the next edit of the CloneSet reconciles it again.
            logger.warning("invalid CloneSet", metadata: ["key": "\(key)", "error": "\(error)"])
            return .done
        }
        let podCache = podInformer.cache
        guard expectations.satisfied(key, isCached: { podCache.get(namespace: request.namespace, name: $0) != nil },
                                     isGone: { uid in !podCache.list(ownedBy: cached.uid).contains { $0.uid == uid } }) else {
            return ReconcileResult(requeueAfter: .seconds(1))
        }

        let owned = podCache.list(ownedBy: cached.uid).map(\.json).filter(Self.isActive).map(Self.podView)
        let updateRevision = CloneSetRevision.full(name: request.name, template: spec.template)
        let imageless = CloneSetRevision.imageless(template: spec.template)
        let steps = CloneSetPlan.plan(spec, updateRevision: updateRevision, imagelessRevision: imageless, pods: owned)
        try await execute(steps, key: key, cloneSet: cloneSet, spec: spec, revision: updateRevision, imageless: imageless)
        try await writeStatus(cloneSet, spec: spec, pods: owned, updateRevision: updateRevision)
        if cloneSet.annotations[Self.reconciledByAnnotation] != identity {
            let patch: JSON = ["metadata": ["annotations": [.init(stringLiteral: Self.reconciledByAnnotation): .string(identity)]]]
            _ = try await client.patch(Self.cloneSets, namespace: request.namespace, name: request.name, type: .merge, patch)
        }
        return .done
    }

    private func execute(_ steps: [CloneSetPlan.Step], key: String, cloneSet: JSON, spec: CloneSetSpec,
                         revision: String, imageless: String) async throws {
        var created: [String] = []
        var deleted: [String] = []
        defer { expectations.expect(key, created: created, deleted: deleted) }
        let namespace = cloneSet.namespace ?? ""
        for step in steps {
            switch step {
            case .create(let count):
                let pod = newPod(cloneSet, spec: spec, revision: revision, imageless: imageless)
                // Slow start, as Kruise and the ReplicaSet controller do: 1, 2, 4, … at once,
                // stopping at the first failure so a rejecting server sees few requests.
                var remaining = count
                var batch = 1
                while remaining > 0 {
                    let size = min(batch, remaining)
                    let names = try await withThrowingTaskGroup(of: String.self) { group in
                        for _ in 0..<size {
                            group.addTask { try await self.client.create(GroupVersionResource.pods, namespace: namespace, pod).name ?? "" }
                        }
                        return try await group.reduce(into: [String]()) { $0.append($1) }
                    }
                    created += names
                    remaining -= size
                    batch *= 2
                }
            case .delete(let pod), .recreate(let pod):
                do {
                    try await client.delete(GroupVersionResource.pods, namespace: namespace, name: pod.name, uid: pod.uid)
                } catch let error as StatusError where error.reason == .notFound {
                    // Already gone.
                }
                deleted.append(pod.uid)
            case .updateInPlace(let pod):
                let containers = spec.template["spec"]?["containers"]?.arrayValue ?? []
                let patch: JSON = [
                    "metadata": [
                        "labels": [.init(stringLiteral: CloneSetRevision.label): .string(revision)],
                    ],
                    "spec": ["containers": .array(containers.map { ["name": $0["name"] ?? .null, "image": $0["image"] ?? .null] })],
                ]
                _ = try await client.patch(GroupVersionResource.pods, namespace: namespace, name: pod.name, type: .strategic, patch)
            }
        }
    }

    private func newPod(_ cloneSet: JSON, spec: CloneSetSpec, revision: String, imageless: String) -> JSON {
        var metadata = spec.template["metadata"]?.objectValue ?? JSONObject()
        var labels = metadata["labels"]?.objectValue ?? JSONObject()
        labels[CloneSetRevision.label] = .string(revision)
        for (key, value) in podLabels { labels[key] = .string(value) }
        metadata["labels"] = .object(labels)
        var annotations = metadata["annotations"]?.objectValue ?? JSONObject()
        annotations[CloneSetRevision.imagelessAnnotation] = .string(imageless)
        metadata["annotations"] = .object(annotations)
        metadata["generateName"] = .string("\(cloneSet.name ?? "")-")
        metadata["namespace"] = .string(cloneSet.namespace ?? "")
        metadata["name"] = nil
        metadata["ownerReferences"] = [[
            "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": .string(cloneSet.name ?? ""),
            "uid": .string(cloneSet.uid ?? ""), "controller": true, "blockOwnerDeletion": true,
        ]]
        return ["apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata),
                "spec": spec.template["spec"] ?? .object(JSONObject())]
    }

    private func writeStatus(_ cloneSet: JSON, spec: CloneSetSpec, pods views: [CloneSetPlan.Pod], updateRevision: String) async throws {
        let updated = views.filter { $0.revision == updateRevision }
        let current = cloneSet["status"]
        var status = current?.objectValue ?? JSONObject()
        status["observedGeneration"] = .int64(cloneSet.generation ?? 1)
        status["replicas"] = .int(views.count)
        status["readyReplicas"] = .int(views.filter(\.ready).count)
        status["availableReplicas"] = .int(views.filter(\.available).count)
        status["updatedReplicas"] = .int(updated.count)
        status["updatedReadyReplicas"] = .int(updated.filter(\.ready).count)
        status["updateRevision"] = .string(updateRevision)
        if updated.count == views.count || status["currentRevision"] == nil {
            status["currentRevision"] = .string(updated.count == views.count ? updateRevision
                                                : views.first { $0.revision != updateRevision }?.revision ?? updateRevision)
        }
        status["labelSelector"] = .string(spec.selector.text)
        guard JSON.object(status) != current else { return }
        _ = try await client.patch(Self.cloneSets, namespace: cloneSet.namespace, name: cloneSet.name ?? "", type: .merge,
                                   ["status": .object(status)], subresource: "status")
    }

    static func isActive(_ pod: JSON) -> Bool {
        guard pod.deletionTimestamp == nil else { return false }
        let phase = pod["status"]?["phase"]?.stringValue
        return phase != "Succeeded" && phase != "Failed"
    }

    static func podView(_ pod: JSON) -> CloneSetPlan.Pod {
        CloneSetPlan.Pod(name: pod.name ?? "", uid: pod.uid ?? "", revision: pod.labels[CloneSetRevision.label] ?? "",
                         imagelessRevision: pod.annotations[CloneSetRevision.imagelessAnnotation] ?? "",
                         ready: PodStatus.isReady(pod), updating: !PodStatus.runsSpecImages(pod),
                         creationTimestamp: pod.metadataValue("creationTimestamp")?.stringValue ?? "")
    }
}
