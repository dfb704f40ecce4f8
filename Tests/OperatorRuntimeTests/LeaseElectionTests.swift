@testable import OperatorRuntime
import PropertyBased
import Testing

@Suite struct LeaseElectionTests {
    let other = LeaderElectionRecord(holderIdentity: "b", leaseDurationSeconds: 15, acquireTime: "t0", renewTime: "t0", leaseTransitions: 3)

    @Test func createsAMissingLease() {
        var election = LeaseElection(identity: "a", leaseDurationSeconds: 15)
        #expect(election.decide(current: nil, now: 0, wallTime: "t1")
                == .create(LeaderElectionRecord(holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: "t1", renewTime: "t1", leaseTransitions: 0)))
    }

    @Test func followsAnUnexpiredHolderThenTakesOverCountingATransition() {
        var election = LeaseElection(identity: "a", leaseDurationSeconds: 15)
        #expect(election.decide(current: other, now: 100, wallTime: "t1") == .followerOf("b"))
        // Expiry counts from when this candidate saw the record, not from its timestamps.
        #expect(election.decide(current: other, now: 114.9, wallTime: "t2") == .followerOf("b"))
        guard case .update(let record) = election.decide(current: other, now: 115.1, wallTime: "t3") else {
            Issue.record("expected a takeover")
            return
        }
        #expect(record.holderIdentity == "a" && record.leaseTransitions == 4 && record.acquireTime == "t3")
    }

    @Test func aRenewedRecordRestartsTheExpiryClock() {
        var election = LeaseElection(identity: "a", leaseDurationSeconds: 15)
        _ = election.decide(current: other, now: 100, wallTime: "t1")
        var renewed = other
        renewed.renewTime = "t9"
        #expect(election.decide(current: renewed, now: 114, wallTime: "t2") == .followerOf("b"))
        #expect(election.decide(current: renewed, now: 128, wallTime: "t3") == .followerOf("b"))
    }

    @Test func renewalKeepsAcquireTimeAndTransitions() {
        var election = LeaseElection(identity: "b", leaseDurationSeconds: 15)
        guard case .update(let record) = election.decide(current: other, now: 1, wallTime: "t5") else {
            Issue.record("the holder renews")
            return
        }
        #expect(record.acquireTime == "t0" && record.renewTime == "t5" && record.leaseTransitions == 3)
    }

    @Test func aReleasedLeaseIsTakenAtOnceAndReleaseNeedsLeadership() {
        var election = LeaseElection(identity: "a", leaseDurationSeconds: 15)
        #expect(election.releaseRecord(wallTime: "t") == nil)
        let released = LeaderElectionRecord(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: "t", renewTime: "t", leaseTransitions: 3)
        guard case .update(let record) = election.decide(current: released, now: 0, wallTime: "t1") else {
            Issue.record("a released lease is free")
            return
        }
        election.wrote(record, now: 0)
        #expect(election.isLeader)
        #expect(election.releaseRecord(wallTime: "t2")?.holderIdentity == "")
        #expect(election.releaseRecord(wallTime: "t2")?.leaseDurationSeconds == 1)
    }

    /// Three candidates against one Lease with random request latencies (some far beyond the
    /// renew deadline), conflicts and crashes: at no instant do two believe they lead, and once
    /// the network is quick again and crashes stop, someone leads.
    @Test func neverTwoLeadersUnderDelaysAndCrashes() async {
        await propertyCheck(count: 150, input: Gen.uint64()) { seed in
            // Each run computes for tens of milliseconds without suspending: let the tests that
            // share the cooperative pool (two threads on this machine) run between them.
            await Task.yield()
            var random = seeded(seed)
            var simulation = ElectionSimulation(candidates: 3)
            let calmFrom = 90_000
            var time = 0
            // After the calm begins: a request sent just before it may still be in flight (a
            // slow trip each way), then a retry, then a full lease duration observed unchanged
            // before a candidate may take over from a holder that crashed, then a retry.
            let settled = calmFrom + 2 * ElectionSimulation.slowestTrip + ElectionSimulation.leaseDuration + 3 * ElectionSimulation.retryPeriod
            while time < settled {
                let calm = time >= calmFrom
                simulation.step(now: time, random: &random, calm: calm)
                let leaders = simulation.believers(now: time)
                #expect(leaders.count <= 1, "two leaders at \(time) ms: \(leaders) (seed \(seed))")
                if leaders.count > 1 { return }
                time += 10
            }
            #expect(simulation.believers(now: time).count == 1, "no leader after the network calmed (seed \(seed))")
        }
    }
}

/// A discrete-time model of `LeaderElector` around the real `LeaseElection`: each attempt
/// reads the Lease, decides, writes with the resourceVersion it read, and counts its renewal
/// from the attempt's start; leadership is believed until `lastRenewal + renewDeadline`.
struct ElectionSimulation {
    static let leaseDuration = 15_000, renewDeadline = 10_000, retryPeriod = 2_000
    /// The longest one-way trip while the network is slow.
    static let slowestTrip = 20_000

    enum Phase {
        case sleeping(until: Int)
        case reading(started: Int, arrives: Int, responds: Int)
        case writing(started: Int, decision: LeaseElection.Decision, readVersion: Int, arrives: Int, responds: Int)
        case answered(started: Int, success: Bool, record: LeaderElectionRecord?, responds: Int)
    }

    struct Candidate {
        var election: LeaseElection
        var phase: Phase = .sleeping(until: 0)
        var lastRenewal: Int?
        var snapshot: (record: LeaderElectionRecord?, version: Int)?
    }

    var server: (record: LeaderElectionRecord?, version: Int) = (nil, 0)
    var candidates: [Candidate]
    var generation = 0

    init(candidates count: Int) {
        candidates = (0..<count).map { Candidate(election: LeaseElection(identity: "c\($0)-0", leaseDurationSeconds: Self.leaseDuration / 1000)) }
    }

    func believers(now: Int) -> [String] {
        candidates.compactMap { c in
            guard let last = c.lastRenewal, now < last + Self.renewDeadline else { return nil }
            return c.election.identity
        }
    }

    func latency(_ random: inout Xoshiro, calm: Bool) -> Int {
        if calm { return Int.random(in: 0...100, using: &random) / 10 * 10 }
        return Int.random(in: 0..<10, using: &random) == 0 ? Int.random(in: 5_000...Self.slowestTrip, using: &random) / 10 * 10
            : Int.random(in: 0...1_500, using: &random) / 10 * 10
    }

    mutating func step(now: Int, random: inout Xoshiro, calm: Bool) {
        for i in candidates.indices {
            // A crash: the process restarts with a new identity and no memory.
            if !calm, Int.random(in: 0..<4_000, using: &random) == 0 {
                generation += 1
                candidates[i] = Candidate(election: LeaseElection(identity: "c\(i)-\(generation)", leaseDurationSeconds: Self.leaseDuration / 1000),
                                          phase: .sleeping(until: now + Self.retryPeriod))
                continue
            }
            var c = candidates[i]
            if let last = c.lastRenewal, now >= last + Self.renewDeadline { c.lastRenewal = nil }
            switch c.phase {
            case .sleeping(let until) where now >= until:
                let arrives = now + latency(&random, calm: calm)
                c.phase = .reading(started: now, arrives: arrives, responds: arrives + latency(&random, calm: calm))
            case .reading(let started, let arrives, let responds):
                if now == arrives { c.snapshot = server }
                if now >= responds, let snapshot = c.snapshot {
                    let decision = c.election.decide(current: snapshot.record, now: Double(now) / 1000, wallTime: "t\(now)")
                    if case .followerOf = decision {
                        c.lastRenewal = nil
                        c.phase = .sleeping(until: now + Self.retryPeriod)
                    } else {
                        let arrives = now + latency(&random, calm: calm)
                        c.phase = .writing(started: started, decision: decision, readVersion: snapshot.version, arrives: arrives,
                                           responds: arrives + latency(&random, calm: calm))
                    }
                }
            case .writing(let started, let decision, let readVersion, let arrives, let responds) where now >= arrives:
                var success = false
                var written: LeaderElectionRecord?
                switch decision {
                case .create(let record) where server.record == nil, .update(let record) where server.version == readVersion:
                    server = (record, server.version + 1)
                    success = true
                    written = record
                default:
                    break
                }
                c.phase = .answered(started: started, success: success, record: written, responds: responds)
            case .answered(let started, let success, let record, let responds) where now >= responds:
                // An answer after the renew deadline is too late to count (the elector's deadline cancelled it).
                if success, let record, now - started < Self.renewDeadline {
                    c.election.wrote(record, now: Double(now) / 1000)
                    c.lastRenewal = started
                }
                c.phase = .sleeping(until: now + Self.retryPeriod)
            default:
                break
            }
            candidates[i] = c
        }
    }
}
