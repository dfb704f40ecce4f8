import KubeModel
@testable import MeshCore

/// Drives a `CoordinatorStateMachine` the way the manager's shell does, synchronously: the
/// clock is a value the test moves, sends land in per-session inboxes, and grant records are
/// written at once (or held until the test writes them, with `recordsGrants` off).
struct CoordinatorDriver {
    enum Message: Equatable {
        case spec(ShardSpec)
        case unassigned(String)
    }

    var machine: CoordinatorStateMachine
    var now = ContinuousClock.now
    var inboxes: [Int: [Message]] = [:]
    var closed: Set<Int> = []
    var recordsGrants = true
    /// Records asked for and not yet written (`recordsGrants` off).
    var pendingRecords: [(key: String, grants: ShardGrants)] = []
    /// Every record written, in order.
    var records: [(key: String, grants: ShardGrants)] = []
    var logs: [String] = []

    static let key = "ctrlmesh.kruise.io/ns/op"

    init(trustsSessions: Bool = true, skew: Duration = .seconds(2), accepting: Bool = true, term: UInt64 = 1) {
        machine = CoordinatorStateMachine(skew: skew, trustsSessions: trustsSessions, term: term)
        if accepting { machine.startAccepting() }
    }

    static func config(shards: Int? = nil, status: JSON? = nil) -> JSON {
        var object: JSON = [
            "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig",
            "metadata": ["name": "op", "namespace": "ns"],
            "spec": ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": [""], "resources": ["pods"]]],
                     "sharding": ["mode": "ObjectHash", "slots": 16, "replicasPerShard": 1]],
        ]
        if let shards { object.setValue(.int(shards), at: ["spec", "sharding", "shards"]) }
        if let status { object.setValue(status, at: ["status"]) }
        return object
    }

    mutating func perform(_ actions: [CoordinatorAction]) {
        for action in actions {
            switch action {
            case .sendSpec(let session, let spec): inboxes[session, default: []].append(.spec(spec))
            case .sendUnassigned(let session, let reason): inboxes[session, default: []].append(.unassigned(reason))
            case .close(let session): closed.insert(session)
            case .recordGrants(let key, let grants):
                if recordsGrants { write(key, grants) } else { pendingRecords.append((key, grants)) }
            case .log(_, let line): logs.append(line)
            }
        }
    }

    mutating func write(_ key: String, _ grants: ShardGrants) {
        records.append((key, grants))
        perform(machine.grantsRecorded(key: key, grants))
    }

    /// Writes the records asked for so far.
    mutating func writePendingRecords() {
        let pending = pendingRecords
        pendingRecords = []
        for (key, grants) in pending { write(key, grants) }
    }

    mutating func upsert(_ object: JSON = CoordinatorDriver.config()) {
        perform(machine.configUpserted(key: CoordinatorDriver.key, object: object, now: now))
    }

    /// Opens a session for `pod`; nil when it is not opened.
    mutating func open(_ pod: String, labels: [String: String]? = ["app": "op"], applied: ShardSpec? = nil,
                       proof: SessionProof? = nil) -> Int? {
        let (opening, actions) = machine.open(pod: pod, namespace: "ns", proof: proof ?? .none, labels: labels, applied: applied, now: now)
        guard case .opened(let session) = opening else { return nil }
        perform(actions)
        return session
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The last spec a session was sent (its inbox emptied); throws when there is none.
    mutating func lastSpec(_ session: Int) throws -> ShardSpec {
        guard let spec = specs(session).last else { throw Missing(description: "session \(session) was sent no spec") }
        return spec
    }

    /// Opens a session that must be opened.
    mutating func opened(_ pod: String, labels: [String: String]? = ["app": "op"], applied: ShardSpec? = nil,
                         proof: SessionProof? = nil) throws -> Int {
        guard let session = open(pod, labels: labels, applied: applied, proof: proof) else { throw Missing(description: "\(pod) was not let in") }
        return session
    }

    mutating func take(_ session: Int) -> [Message] {
        defer { inboxes[session] = [] }
        return inboxes[session] ?? []
    }

    mutating func specs(_ session: Int) -> [ShardSpec] {
        take(session).compactMap { if case .spec(let spec) = $0 { spec } else { nil } }
    }

    mutating func ack(_ pod: String, _ session: Int, _ epoch: UInt64) {
        perform(machine.acknowledged(member: "ns/\(pod)", session: session, epoch: epoch, now: now))
    }

    /// Applies and acknowledges whatever each session was sent, a few rounds over.
    mutating func settle(_ sessions: [String: Int], rounds: Int = 4) -> [String: ShardSpec] {
        var applied: [String: ShardSpec] = [:]
        for _ in 0..<rounds {
            for (pod, session) in sessions.sorted(by: { $0.key < $1.key }) {
                for spec in specs(session) {
                    applied[pod] = spec
                    ack(pod, session, spec.epoch)
                }
            }
        }
        return applied
    }

    mutating func tick(after duration: Duration = .zero) {
        now += duration
        perform(machine.tick(now: now))
    }

    var mesh: CoordinatorStateMachine.Mesh? { machine.meshes[CoordinatorDriver.key] }
}
