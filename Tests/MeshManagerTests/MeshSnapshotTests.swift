import KubeModel
import MeshCore
@testable import MeshManager
import Testing

/// The ShardingConfig status the manager writes, rendered from the coordinator's state.
@Suite struct MeshSnapshotTests {
    static let key = "ctrlmesh.kruise.io/ns/op"

    static func config(canary: Bool = false) -> JSON {
        var object: JSON = [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
            "metadata": ["name": "op", "namespace": "ns"],
            "spec": ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": [""], "resources": ["pods"]]],
                     "sharding": ["mode": "ObjectHash", "slots": 16, "shards": 2]],
        ]
        if canary {
            object.setValue(["selector": ["matchLabels": ["version": "v2"]], "steps": [["percent": 25], ["percent": 100]]], at: ["spec", "canary"])
        }
        return object
    }

    /// Opens sessions for `pods`, delivers and acknowledges every spec (grants recorded at
    /// once), and returns the machine.
    static func converged(_ pods: [String: [String: String]], canary: Bool = false) -> CoordinatorStateMachine {
        var machine = CoordinatorStateMachine(trustsSessions: true)
        machine.startAccepting()
        let now = ContinuousClock.now
        var inbox: [Int: [ShardSpec]] = [:]
        var sessions: [String: Int] = [:]
        func perform(_ actions: [CoordinatorAction]) {
            for action in actions {
                switch action {
                case .sendSpec(let session, let spec): inbox[session, default: []].append(spec)
                case .recordGrants(let key, let grants): perform(machine.grantsRecorded(key: key, grants))
                default: break
                }
            }
        }
        perform(machine.configUpserted(key: key, object: config(canary: canary), now: now))
        for (pod, labels) in pods.sorted(by: { $0.key < $1.key }) {
            let (opening, actions) = machine.open(pod: pod, namespace: "ns", proof: .none, labels: labels, applied: nil, now: now)
            if case .opened(let id) = opening { sessions[pod] = id }
            perform(actions)
        }
        for _ in 0..<6 {
            for (pod, session) in sessions.sorted(by: { $0.key < $1.key }) {
                let specs = inbox[session] ?? []
                inbox[session] = []
                for spec in specs { perform(machine.acknowledged(member: "ns/\(pod)", session: session, epoch: spec.epoch, now: now)) }
            }
        }
        return machine
    }

    @Test func aConvergedMeshIsReadyWithEveryShardsSlots() throws {
        let machine = MeshSnapshotTests.converged(["op-0": ["app": "op"], "op-1": ["app": "op"], "op": ["app": "op"]])
        let status = MeshSnapshot(mesh: try #require(machine.meshes[MeshSnapshotTests.key])).status
        #expect(status["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }?["status"] == "True")
        let slots = status["shards"]?.arrayValue?.map { $0["slots"]?.stringValue ?? "" }
        #expect(slots == ["0-7", "8-15"] || slots == ["8-15", "0-7"])
        #expect(status["unassigned"]?.arrayValue?.first?["pod"] == "ns/op")
        #expect(status["conditions"]?.arrayValue?.first { $0["type"] == "Degraded" }?["reason"] == "UnplacedPods")
        #expect(status["grants"] == nil, "the grant record is written on its own, by the grant recorder")
    }

    @Test func theRolloutIsReportedAndClearedWhenTheCanaryGoes() throws {
        var machine = MeshSnapshotTests.converged(["op-0": ["app": "op"], "op-v2": ["app": "op", "version": "v2"]], canary: true)
        let rollout = MeshSnapshot(mesh: try #require(machine.meshes[MeshSnapshotTests.key])).status["rollout"]
        #expect(rollout?["canaryShard"] == "op-canary" && rollout?["steps"] == 2)
        _ = machine.configUpserted(key: MeshSnapshotTests.key, object: MeshSnapshotTests.config(), now: .now)
        #expect(MeshSnapshot(mesh: try #require(machine.meshes[MeshSnapshotTests.key])).status["rollout"] == .null)
    }
}
