import KubeModel

extension MeshConfig {
    /// A canary subset: pods of a new operator version that form one extra shard, given a
    /// share of the hash space that grows step by step while a rollout progresses. Its share
    /// is made of slots, so every change of it is an ordinary handover.
    public struct Canary: Sendable, Equatable {
        /// Which of the config's pods are the canary.
        public enum Pods: Sendable, Equatable {
            /// Pods whose labels match (e.g. a version label on a second StatefulSet).
            case selector(LabelSelector)
            /// The StatefulSet's first N ordinals (KusionStack's `root.canary.replicas`); the
            /// stable shards number the remaining ordinals from zero.
            case firstOrdinals(Int)
        }

        /// What one step adds to the canary's share. The share is cumulative: a step keeps
        /// every slot the steps before it gave, adds the slots of its namespaces and buckets,
        /// then the lowest-numbered free slots until it holds `percent` of them all.
        public struct Share: Sendable, Equatable {
            /// Namespaces whose hash slot joins the share (NamespaceHash mode): the namespace,
            /// and any other whose name hashes into the same slot.
            public var namespaces: [String]
            /// KusionStack's 32 namespace-hash buckets: bucket b is the b-th 32nd of the space.
            public var buckets: [Int]
            public var percent: Int

            public init(namespaces: [String] = [], buckets: [Int] = [], percent: Int = 0) {
                self.namespaces = namespaces
                self.buckets = buckets
                self.percent = percent
            }
        }

        /// When the canary's own API calls fail too often, the rollout rolls back.
        public struct Analysis: Sendable, Equatable {
            /// Errors (400, 403, 422 and 5xx answers, or no answer) per request on the sharded
            /// resources, in percent, above which the canary is judged failing.
            public var maxErrorPercent: Double
            /// Fewer requests than this in the window are not judged.
            public var minRequests: Int
            public var window: Duration

            public init(maxErrorPercent: Double, minRequests: Int = 20, window: Duration = .seconds(60)) {
                self.maxErrorPercent = maxErrorPercent
                self.minRequests = minRequests
                self.window = window
            }
        }

        public var pods: Pods
        public var steps: [Share]
        /// How long each step holds, once converged, before the next begins.
        public var pause: Duration
        public var analysis: Analysis?

        public init(pods: Pods, steps: [Share], pause: Duration = .zero, analysis: Analysis? = nil) {
            self.pods = pods
            self.steps = steps
            self.pause = pause
            self.analysis = analysis
        }
    }

    /// The canary pods' shard.
    public var canaryShardName: String { "\(name)-canary" }

    /// The slots the canary owns at `step` (nil: none, the rollout rolled back). Each step's
    /// share contains the one before it, so a rollout only ever moves slots towards the canary.
    public func canaryUnits(step: Int?) -> Set<Int> {
        guard let canary, let step, !canary.steps.isEmpty else { return [] }
        var units = Set<Int>()
        for share in canary.steps.prefix(min(step, canary.steps.count - 1) + 1) {
            for namespace in share.namespaces {
                units.insert(SlotAssignment.slot(of: FNV1a64.hash(namespace), slots: slots))
            }
            for bucket in share.buckets where (0..<MeshConfig.kusionBuckets).contains(bucket) {
                let low = bucket * slots / MeshConfig.kusionBuckets
                let high = max(low + 1, (bucket + 1) * slots / MeshConfig.kusionBuckets)
                units.formUnion(low..<high)
            }
            let wanted = (share.percent * slots + 99) / 100
            var slot = 0
            while units.count < wanted, slot < slots {
                units.insert(slot)
                slot += 1
            }
        }
        return units
    }

    /// KusionStack labels namespaces with one of 32 sharding-hash buckets.
    public static let kusionBuckets = 32
}

extension FieldReader {
    /// `spec.canary` of a `ctrlmesh.kruise.io` ShardingConfig.
    mutating func canary(_ value: JSON?, _ path: String) -> MeshConfig.Canary? {
        guard let value = object(value, path, known: ["selector", "steps", "pause", "analysis"]) else { return nil }
        let pods = selector(value["selector"], "\(path).selector", required: true)
        var steps: [MeshConfig.Canary.Share] = []
        for (at, item) in objects(value["steps"], "\(path).steps", known: ["namespaces", "percent"]) {
            let percent = int(item["percent"], "\(at).percent") ?? 0
            if !(0...100).contains(percent) { fail("\(at).percent", "Invalid value: \(percent): must be from 0 to 100") }
            let share = MeshConfig.Canary.Share(namespaces: strings(item["namespaces"], "\(at).namespaces"), percent: percent)
            if share == MeshConfig.Canary.Share() { fail(at, "Required value: namespaces or a percent above 0") }
            steps.append(share)
        }
        if steps.isEmpty { fail("\(path).steps", "Required value: at least one step") }
        let pause = duration(value["pause"], "\(path).pause", required: false) ?? .zero
        var analysis: MeshConfig.Canary.Analysis?
        if let body = object(value["analysis"], "\(path).analysis", known: ["maxErrorPercent", "minRequests", "window"]) {
            let limit = number(body["maxErrorPercent"], "\(path).analysis.maxErrorPercent") ?? -1
            if !(0...100).contains(limit) { fail("\(path).analysis.maxErrorPercent", "Required value: a percentage from 0 to 100") }
            let minimum = int(body["minRequests"], "\(path).analysis.minRequests") ?? 20
            if minimum < 1 { fail("\(path).analysis.minRequests", "Invalid value: \(minimum): must be at least 1") }
            let window = duration(body["window"], "\(path).analysis.window", required: false) ?? .seconds(60)
            if window <= .zero { fail("\(path).analysis.window", "Invalid value: must be positive") }
            analysis = .init(maxErrorPercent: limit, minRequests: minimum, window: window)
        }
        return MeshConfig.Canary(pods: .selector(pods), steps: steps, pause: pause, analysis: analysis)
    }

    /// KusionStack's fixed canary: the first `replicas` pods own the named namespaces and
    /// hash buckets from the start (one step, no analysis).
    mutating func kusionCanary(_ value: JSON?, _ path: String) -> MeshConfig.Canary? {
        guard let value = object(value, path, known: ["replicas", "inNamespaces", "inShardHash"]) else { return nil }
        let replicas = int(value["replicas"], "\(path).replicas") ?? 0
        if replicas < 1 { fail("\(path).replicas", "Invalid value: \(replicas): must be at least 1") }
        var buckets: [Int] = []
        for text in strings(value["inShardHash"], "\(path).inShardHash") {
            guard let bucket = Int(text), (0..<MeshConfig.kusionBuckets).contains(bucket) else {
                fail("\(path).inShardHash", "Invalid value: \"\(text)\": must be a hash bucket from 0 to \(MeshConfig.kusionBuckets - 1)")
                continue
            }
            buckets.append(bucket)
        }
        let share = MeshConfig.Canary.Share(namespaces: strings(value["inNamespaces"], "\(path).inNamespaces"), buckets: buckets)
        if share == MeshConfig.Canary.Share() { fail(path, "Required value: inNamespaces or inShardHash") }
        return MeshConfig.Canary(pods: .firstOrdinals(replicas), steps: [share])
    }
}
