import KubeModel
@testable import MeshCore
import PropertyBased
import Testing

@Suite struct CanaryRolloutTests {
    static func config(steps: [MeshConfig.Canary.Share], slots: Int = 64, pause: Duration = .seconds(10),
                       analysis: MeshConfig.Canary.Analysis? = nil) -> MeshConfig {
        MeshConfig(name: "op", namespace: "ns", podSelector: .nothing, resources: [], mode: .namespaceHash, slots: slots,
                   canary: .init(pods: .selector(.nothing), steps: steps, pause: pause, analysis: analysis))
    }

    static let healthy = CanaryRollout.Errors(requests: 0, errors: 0)

    // MARK: The share

    /// Whatever the steps, each step's share contains the one before, holds its namespaces'
    /// slots and at least its percent of the slots; rolled back, it is empty.
    @Test func sharesGrowStepByStepAndHoldWhatEachStepNames() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = FixtureRandom(seed: seed)
            let slots = 1 << random.int(0...8)
            var steps: [MeshConfig.Canary.Share] = []
            for _ in 0..<random.int(1...5) {
                let namespaces = (0..<random.int(0...3)).map { _ in "ns-\(random.int(0...999))" }
                steps.append(.init(namespaces: namespaces, percent: random.int(0...100)))
            }
            let config = CanaryRolloutTests.config(steps: steps, slots: slots)
            var previous = Set<Int>()
            for (index, step) in steps.enumerated() {
                let units = config.canaryUnits(step: index)
                #expect(units.isSuperset(of: previous), "seed \(seed): step \(index) gave back slots")
                #expect(units.count >= (step.percent * slots + 99) / 100)
                #expect(units.allSatisfy { (0..<slots).contains($0) })
                for namespace in step.namespaces {
                    #expect(units.contains(SlotAssignment.slot(of: FNV1a64.hash(namespace), slots: slots)))
                }
                previous = units
            }
            #expect(config.canaryUnits(step: nil).isEmpty)
            #expect(config.canaryUnits(step: steps.count + 3) == previous, "past the last step is the last step")
        }
    }

    @Test func percentStepsTakeTheLowestSlots() {
        let config = CanaryRolloutTests.config(steps: [.init(percent: 10), .init(percent: 50), .init(percent: 100)], slots: 64)
        #expect(config.canaryUnits(step: 0) == Set(0..<7))
        #expect(config.canaryUnits(step: 1) == Set(0..<32))
        #expect(config.canaryUnits(step: 2) == Set(0..<64))
    }

    // MARK: Steps and pauses

    @Test func eachStepWaitsForConvergenceThenItsPause() {
        let config = CanaryRolloutTests.config(steps: [.init(percent: 10), .init(percent: 50), .init(percent: 100)])
        var rollout = CanaryRollout(canary: config.canary!)
        let start = ContinuousClock.now
        #expect(rollout.shareStep == 0)
        // Not converged, or no canary pod: no progress, whatever the time.
        _ = rollout.observe(converged: false, canaryLive: true, errors: Self.healthy, now: start + .seconds(100))
        _ = rollout.observe(converged: true, canaryLive: false, errors: Self.healthy, now: start + .seconds(200))
        #expect(rollout.step == 0 && rollout.message.contains("waiting for canary pods"))
        // Converged: the pause starts now and the step holds until it passes.
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(300))
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(309))
        #expect(rollout.step == 0 && rollout.message.contains("holding"))
        let stepped = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(310))
        #expect(stepped)
        #expect(rollout.step == 1 && rollout.phase == .progressing)
        // A handover in between restarts the pause.
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(311))
        _ = rollout.observe(converged: false, canaryLive: true, errors: Self.healthy, now: start + .seconds(315))
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(320))
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(329))
        #expect(rollout.step == 1)
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(330))
        #expect(rollout.step == 2)
        // The last step completes as soon as it converges.
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: start + .seconds(331))
        #expect(rollout.phase == .completed && rollout.shareStep == 2)
    }

    // MARK: Analysis

    @Test func tooManyErrorsRollBackButFewCallsAreNotJudged() {
        let analysis = MeshConfig.Canary.Analysis(maxErrorPercent: 20, minRequests: 10, window: .seconds(30))
        let config = CanaryRolloutTests.config(steps: [.init(percent: 10), .init(percent: 100)], analysis: analysis)
        var rollout = CanaryRollout(canary: config.canary!)
        let now = ContinuousClock.now
        _ = rollout.observe(converged: false, canaryLive: true, errors: .init(requests: 9, errors: 9), now: now)
        #expect(rollout.phase == .progressing, "9 calls are fewer than minRequests")
        _ = rollout.observe(converged: false, canaryLive: true, errors: .init(requests: 10, errors: 2), now: now)
        #expect(rollout.phase == .progressing, "20% is not above the limit")
        let judged = rollout.observe(converged: false, canaryLive: true, errors: .init(requests: 10, errors: 3), now: now)
        #expect(judged)
        #expect(rollout.phase == .rolledBack && rollout.shareStep == nil)
        #expect(rollout.message.contains("3 of 10 canary API calls failed (30% > 20%)"))
        // Rolled back stays rolled back.
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: now + .seconds(100))
        #expect(rollout.phase == .rolledBack)
    }

    @Test func aPausedRolloutIsStillJudgedACompletedOneIsNot() {
        let analysis = MeshConfig.Canary.Analysis(maxErrorPercent: 5, minRequests: 1)
        let config = CanaryRolloutTests.config(steps: [.init(percent: 100)], analysis: analysis)
        let failing = CanaryRollout.Errors(requests: 10, errors: 10)
        var paused = CanaryRollout(canary: config.canary!)
        _ = paused.handle(.pause)
        _ = paused.observe(converged: true, canaryLive: true, errors: failing, now: .now)
        #expect(paused.phase == .rolledBack)
        var done = CanaryRollout(canary: config.canary!)
        _ = done.observe(converged: true, canaryLive: true, errors: Self.healthy, now: .now)
        #expect(done.phase == .completed)
        _ = done.observe(converged: true, canaryLive: true, errors: failing, now: .now)
        #expect(done.phase == .completed)
    }

    @Test(arguments: [(400, true), (403, true), (422, true), (500, true), (503, true), (504, true),
                      (200, false), (201, false), (404, false), (409, false), (410, false), (429, false)])
    func whichAnswersCountAsErrors(status: Int, error: Bool) {
        #expect(CanaryRollout.Errors.countsAsError(status: status) == error)
    }

    // MARK: Requests

    /// Every request from every phase: the phase it leads to, and what the canary owns then.
    @Test func requestsFromEveryPhase() {
        let config = CanaryRolloutTests.config(steps: [.init(percent: 10), .init(percent: 50), .init(percent: 100)])
        let expected: [CanaryRollout.Phase: [CanaryRollout.Request: CanaryRollout.Phase]] = [
            .progressing: [.pause: .paused, .resume: .progressing, .abort: .aborted],
            .paused: [.pause: .paused, .resume: .progressing, .abort: .aborted],
            .completed: [.pause: .completed, .resume: .completed, .abort: .aborted],
            .rolledBack: [.pause: .rolledBack, .resume: .progressing, .abort: .rolledBack],
            .aborted: [.pause: .aborted, .resume: .progressing, .abort: .aborted],
        ]
        for phase in CanaryRollout.Phase.allCases {
            for request in CanaryRollout.Request.allCases {
                var rollout = CanaryRollout(canary: config.canary!, phase: phase, step: 1)
                let changed = rollout.handle(request)
                let after = expected[phase]![request]!
                #expect(rollout.phase == after, "\(request) from \(phase)")
                #expect(rollout.isUnderWay == (after == .progressing || after == .paused))
                #expect(changed == (after != phase), "\(request) from \(phase)")
                switch after {
                case .rolledBack, .aborted: #expect(rollout.shareStep == nil)
                case .progressing where phase == .rolledBack || phase == .aborted:
                    #expect(rollout.shareStep == 0, "a restart begins at the first step")
                default: #expect(rollout.shareStep == 1, "\(request) from \(phase) keeps the step")
                }
            }
        }
    }

    @Test func aPausedRolloutHoldsItsStep() {
        let config = CanaryRolloutTests.config(steps: [.init(percent: 10), .init(percent: 100)], pause: .zero)
        var rollout = CanaryRollout(canary: config.canary!)
        _ = rollout.handle(.pause)
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: .now + .seconds(1000))
        #expect(rollout.step == 0 && rollout.phase == .paused)
        _ = rollout.handle(.resume)
        _ = rollout.observe(converged: true, canaryLive: true, errors: Self.healthy, now: .now)
        #expect(rollout.step == 1)
    }

    // MARK: The error window

    @Test func theWindowKeepsOnlyRecentCalls() {
        var window = ErrorWindow()
        let start = ContinuousClock.now
        window.add(requests: 10, errors: 5, at: start)
        window.add(requests: 0, errors: 0, at: start + .seconds(1))
        window.add(requests: 4, errors: 1, at: start + .seconds(20))
        #expect(window.totals(over: .seconds(30), at: start + .seconds(25)) == .init(requests: 14, errors: 6))
        #expect(window.totals(over: .seconds(30), at: start + .seconds(35)) == .init(requests: 4, errors: 1))
        window.reset()
        #expect(window.totals(over: .seconds(30), at: start + .seconds(35)) == .init(requests: 0, errors: 0))
    }
}
