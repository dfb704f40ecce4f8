import KubeModel
@testable import MeshCore
import Testing

/// The real coordinator state machine, its proxies and the API server's fence, under random
/// interleavings of everything that goes wrong: proxies paused with writes in hand (their
/// sessions left open), sessions cut while paused, crashes and restarts, lost and late
/// messages, slow grant records, and impostors opening sessions for pods they cannot prove.
///
/// A write is admitted by a proxy under its spec, leaves only if the proxy's departure check
/// passes, then sits in the network for as long as the schedule likes (a paused process's
/// socket still sends) before it lands at the API server, where the fence judges it by the
/// grants recorded at that instant. After every landing: the writes accepted for a unit never
/// go back to an earlier epoch of another shard (no two writers' spans overlap). Once the
/// faults stop, every unit has exactly one owner within a bounded time.
@Suite struct CoordinatorSimulationTests {
    typealias Instant = ContinuousClock.Instant

    struct Write {
        var unit: Int
        var shard: String
        var epoch: UInt64
        var admittedAt: Instant
    }

    struct Proxy {
        let pod: String
        var running = true
        var paused = false
        var session: Int?
        var inbox: [ShardSpec] = []
        var outbox: [UInt64] = []
        var applied: ShardSpec?
        /// Until when the proxy takes its lease for valid (its last renewal's start plus the
        /// renew deadline).
        var validUntil: Instant?
        var renewals = 0
        var nextRenewal: Instant
        var admitted: [Write] = []
    }

    static let units = 16
    static let leaseDuration = Duration.seconds(3)
    static let renewDeadline = Duration.seconds(2)
    static let maxWriteAge = Duration.seconds(5)
    static let config: JSON = [
        "apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "ShardingConfig", "metadata": ["name": "op", "namespace": "ns"],
        "spec": ["selector": ["matchLabels": ["app": "op"]], "resources": [["apiGroups": [""], "resources": ["pods"]]],
                 "sharding": ["mode": "ObjectHash", "slots": .int(units), "replicasPerShard": 1]],
    ]
    static let key = "ctrlmesh.kruise.io/ns/op"

    struct World {
        var machine = CoordinatorStateMachine(skew: .seconds(1), trustsSessions: false, term: 1)
        var now = ContinuousClock.now
        var random: FixtureRandom
        var proxies: [String: Proxy] = [:]
        /// Writes that left their proxy and have not landed.
        var network: [Write] = []
        /// Grant records being written, oldest first.
        var recording: [ShardGrants] = []
        /// What the API server holds.
        var serverGrants = ShardGrants()
        /// Whether the API server fences stamped writes.
        let fence: Bool
        var lastAccepted: [Int: (shard: String, epoch: UInt64)] = [:]
        var violations: [String] = []
        var accepted = 0
        var refusedAtServer = 0
        var abortedInProxy = 0
        var log: [String] = []

        init(seed: UInt64, fence: Bool = true) {
            random = FixtureRandom(seed: seed)
            self.fence = fence
            machine.startAccepting()
            perform(machine.configUpserted(key: CoordinatorSimulationTests.key, object: CoordinatorSimulationTests.config, now: now))
            for ordinal in 0..<4 { proxies["op-\(ordinal)"] = Proxy(pod: "op-\(ordinal)", nextRenewal: now) }
        }

        func proxy(ofSession session: Int) -> String? {
            proxies.first { $0.value.session == session }?.key
        }

        mutating func perform(_ actions: [CoordinatorAction]) {
            for action in actions {
                switch action {
                case .sendSpec(let session, let spec):
                    if let pod = proxy(ofSession: session) { proxies[pod]?.inbox.append(spec) }
                case .sendUnassigned: break  // every pod here is selected
                case .close(let session):
                    if let pod = proxy(ofSession: session) { dropSession(pod) }
                case .recordGrants(_, let grants): recording.append(grants)
                case .log: break
                }
            }
        }

        /// The connection is gone: nothing in flight on it arrives.
        mutating func dropSession(_ pod: String) {
            proxies[pod]?.session = nil
            proxies[pod]?.inbox = []
            proxies[pod]?.outbox = []
        }

        func leaseValid(_ p: Proxy) -> Bool { p.validUntil.map { now < $0 } ?? false }

        // MARK: The proxy's own behaviour (only while it runs and is not paused)

        mutating func proxyTick(_ pod: String) {
            guard var p = proxies[pod], p.running, !p.paused else { return }
            if now >= p.nextRenewal {
                // A renewal whose attempt started now: valid for the renew deadline from here.
                p.renewals += 1
                p.validUntil = now + CoordinatorSimulationTests.renewDeadline
                p.nextRenewal = now + .seconds(1)
                proxies[pod] = p
                perform(machine.leaseObserved(namespace: "ns", pod: pod, holder: pod, renewTime: "r\(p.renewals)",
                                              duration: CoordinatorSimulationTests.leaseDuration, now: now))
            }
            guard let q = proxies[pod] else { return }
            if !leaseValid(q), q.applied != nil || q.session != nil {
                // The lease lapsed: fence, and end the session (it reports afresh when back).
                proxies[pod]?.applied = nil
                if let session = q.session {
                    perform(machine.closed(member: "ns/\(pod)", session: session))
                    dropSession(pod)
                }
            }
        }

        mutating func connect(_ pod: String) {
            guard let p = proxies[pod], p.running, !p.paused, p.session == nil, leaseValid(p) else { return }
            let (opening, actions) = machine.open(pod: pod, namespace: "ns", proof: .pod(namespace: "ns", name: pod), labels: ["app": "op"],
                                                  applied: p.applied, now: now)
            guard case .opened(let session) = opening else { return }
            proxies[pod]?.session = session
            perform(actions)
        }

        mutating func deliverSpec(_ pod: String) {
            guard var p = proxies[pod], p.running, !p.paused, !p.inbox.isEmpty else { return }
            let spec = p.inbox.removeFirst()
            proxies[pod] = p
            // A proxy whose lease lapsed does not apply (it fenced, and its session ends).
            guard leaseValid(p) else { return }
            p.applied = spec
            p.outbox.append(spec.epoch)
            proxies[pod] = p
        }

        mutating func deliverAck(_ pod: String) {
            guard var p = proxies[pod], !p.outbox.isEmpty, let session = p.session else { return }
            let epoch = p.outbox.removeFirst()
            proxies[pod] = p
            perform(machine.acknowledged(member: "ns/\(pod)", session: session, epoch: epoch, now: now))
        }

        mutating func heartbeat(_ pod: String) {
            guard let p = proxies[pod], p.running, !p.paused, let session = p.session else { return }
            machine.heartbeat(member: "ns/\(pod)", session: session, now: now)
        }

        /// The operator writes a unit its proxy's spec owns: the write is admitted.
        mutating func admit(_ pod: String) {
            guard let p = proxies[pod], p.running, !p.paused, leaseValid(p), let spec = p.applied else { return }
            let owned = MeshConfigUnits.units(of: spec)
            guard !owned.isEmpty else { return }
            let unit = owned.sorted()[random.int(0...(owned.count - 1))]
            proxies[pod]?.admitted.append(Write(unit: unit, shard: spec.shard, epoch: spec.epoch, admittedAt: now))
        }

        /// The oldest admitted write is about to be written upstream: the departure check.
        mutating func depart(_ pod: String) {
            guard var p = proxies[pod], p.running, !p.paused, !p.admitted.isEmpty else { return }
            let write = p.admitted.removeFirst()
            proxies[pod] = p
            if WriteDeparture.refusal(admittedEpoch: write.epoch, currentEpoch: p.applied?.epoch, leaseValid: leaseValid(p),
                                      age: now - write.admittedAt, bound: CoordinatorSimulationTests.maxWriteAge) != nil {
                abortedInProxy += 1
                return
            }
            network.append(write)
        }

        /// A write in the network lands: the fence judges it by the grants recorded now.
        mutating func land(_ index: Int) {
            let write = network.remove(at: index)
            if fence {
                let grant = serverGrants.units[write.unit]
                guard let grant, grant.shard == write.shard, grant.epoch <= write.epoch else {
                    refusedAtServer += 1
                    return
                }
            }
            if let last = lastAccepted[write.unit], last.shard != write.shard, write.epoch <= last.epoch {
                violations.append("unit \(write.unit): \(write.shard)@\(write.epoch) landed after \(last.shard)@\(last.epoch)")
            }
            if lastAccepted[write.unit].map({ write.epoch >= $0.epoch || $0.shard == write.shard }) ?? true {
                lastAccepted[write.unit] = (write.shard, max(write.epoch, lastAccepted[write.unit]?.epoch ?? 0))
            }
            accepted += 1
        }

        mutating func completeRecord() {
            guard !recording.isEmpty else { return }
            let grants = recording.removeFirst()
            if grants.term >= serverGrants.term { serverGrants = grants }
            perform(machine.grantsRecorded(key: CoordinatorSimulationTests.key, grants))
        }

        /// Someone opens a session for a member's pod without its proof: refused, and nothing
        /// of the member's changes.
        mutating func impostor() {
            let pod = "op-\(random.int(0...3))"
            let proofs: [SessionProof] = [.none, .pod(namespace: "ns", name: "op-\((Int(pod.dropFirst(3))! + 1) % 4)"),
                                          .pod(namespace: "elsewhere", name: pod)]
            let before = machine.sessions
            let (opening, actions) = machine.open(pod: pod, namespace: "ns", proof: proofs[random.int(0...2)], labels: ["app": "op"],
                                                  applied: nil, now: now)
            guard case .refused = opening, actions.isEmpty, machine.sessions == before else {
                violations.append("an impostor for \(pod) was let in: \(opening)")
                return
            }
        }

        // MARK: Faults

        mutating func pause(_ pod: String) {
            guard proxies[pod]?.running == true else { return }
            proxies[pod]?.paused = true
        }

        mutating func resume(_ pod: String) {
            proxies[pod]?.paused = false
        }

        /// The manager's connection to a (paused) proxy is cut.
        mutating func cut(_ pod: String) {
            guard let session = proxies[pod]?.session else { return }
            perform(machine.closed(member: "ns/\(pod)", session: session))
            dropSession(pod)
        }

        mutating func crash(_ pod: String) {
            guard var p = proxies[pod], p.running else { return }
            if let session = p.session { perform(machine.closed(member: "ns/\(pod)", session: session)) }
            p = Proxy(pod: pod, nextRenewal: now)
            p.running = false
            proxies[pod] = p
        }

        mutating func restart(_ pod: String) {
            guard proxies[pod]?.running == false else { return }
            proxies[pod] = Proxy(pod: pod, nextRenewal: now)
        }

        // MARK: Driving

        mutating func randomStep() {
            let pods = proxies.keys.sorted()
            let pod = pods[random.int(0...(pods.count - 1))]
            switch random.int(0...199) {
            case 0..<24: deliverSpec(pod)
            case 24..<44: deliverAck(pod)
            case 44..<54: connect(pod)
            case 54..<80: admit(pod)
            case 80..<120: depart(pod)
            case 120..<146: if !network.isEmpty { land(random.int(0...(network.count - 1))) }
            case 146..<166: completeRecord()
            case 166..<168: pause(pod)
            case 168..<175: resume(pod)
            case 175..<177: if proxies[pod]?.paused == true { cut(pod) }
            case 177: crash(pod)
            case 178..<181: restart(pod)
            case 181..<186: impostor()
            default: heartbeat(pod)
            }
            advance(by: .milliseconds(random.int(5...150)))
        }

        mutating func advance(by duration: Duration) {
            now += duration
            for pod in proxies.keys.sorted() { proxyTick(pod) }
            perform(machine.tick(now: now))
        }

        /// No more faults: everyone resumes or restarts, messages flow, records complete.
        mutating func heal() -> Bool {
            for pod in proxies.keys.sorted() {
                resume(pod)
                restart(pod)
            }
            for _ in 0..<400 {
                for pod in proxies.keys.sorted() {
                    connect(pod)
                    for _ in 0..<(proxies[pod]?.inbox.count ?? 0) { deliverSpec(pod) }
                    for _ in 0..<(proxies[pod]?.outbox.count ?? 0) { deliverAck(pod) }
                    heartbeat(pod)
                    admit(pod)
                    depart(pod)
                }
                while !recording.isEmpty { completeRecord() }
                while !network.isEmpty { land(0) }
                advance(by: .milliseconds(100))
                if converged { return true }
            }
            return false
        }

        var converged: Bool {
            guard let mesh = machine.meshes[CoordinatorSimulationTests.key], mesh.planner.converged else { return false }
            for unit in 0..<CoordinatorSimulationTests.units {
                let holders = proxies.values.filter { $0.applied.map { MeshConfigUnits.units(of: $0).contains(unit) } ?? false }
                guard holders.count == 1, serverGrants.units[unit]?.shard == holders[0].applied?.shard else { return false }
            }
            return true
        }
    }

    @Test(arguments: 0..<40)
    func pausesPartitionsAndImpostorsNeverMakeTwoWriters(seed: UInt64) {
        var world = World(seed: seed)
        for _ in 0..<600 { world.randomStep() }
        let healed = world.heal()
        #expect(world.violations.isEmpty, "seed \(seed): \(world.violations.prefix(5))")
        #expect(healed, "seed \(seed): not converged after the faults stopped")
        #expect(world.accepted > 0)
    }

    /// The simulation is sharp enough to see what the fence at the API server prevents:
    /// without it, writes that left a proxy before it was paused land after their keys went
    /// to another shard.
    @Test func withoutTheServerFenceLateWritesMakeTwoWriters() {
        var violations = 0
        var refusedWithFence = 0
        for seed in 0..<40 as Range<UInt64> {
            var unfenced = World(seed: seed, fence: false)
            for _ in 0..<600 { unfenced.randomStep() }
            violations += unfenced.violations.count
            var fenced = World(seed: seed, fence: true)
            for _ in 0..<600 { fenced.randomStep() }
            refusedWithFence += fenced.refusedAtServer
        }
        #expect(violations > 0, "no late write landed over a new owner's in 40 runs without the fence")
        #expect(refusedWithFence > 0, "the fence refused nothing in 40 runs")
    }
}

/// The slots a spec of the simulated config owns.
enum MeshConfigUnits {
    static let config = try! MeshConfig(object: CoordinatorSimulationTests.config)

    static func units(of spec: ShardSpec) -> Set<Int> {
        config.units(of: spec)
    }
}
