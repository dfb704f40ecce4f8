@testable import OperatorRuntime
import Testing

@Suite struct RelistGateTests {
    @Test func holdsWhileRelistingAndForTheQuietPeriodAfter() {
        let gate = RelistGate(quiet: .milliseconds(300))
        let t0 = ContinuousClock.now
        #expect(gate.remainingWait(now: t0) == .zero, "settled before any relist")
        gate.begin()
        gate.begin()
        gate.end()
        #expect(gate.remainingWait(now: t0) > .zero, "one informer is still relisting")
        gate.end()
        let afterLast = ContinuousClock.now
        #expect(gate.remainingWait(now: afterLast + .milliseconds(100)) > .milliseconds(150))
        #expect(gate.remainingWait(now: afterLast + .milliseconds(400)) == .zero)
    }

    @Test func workersWaitForTheGate() async {
        let gate = RelistGate(quiet: .milliseconds(200))
        gate.begin()
        let clock = ContinuousClock()
        let start = clock.now
        Task {
            try? await Task.sleep(for: .milliseconds(100))
            gate.end()
        }
        await gate.waitUntilSettled()
        #expect(start.duration(to: clock.now) >= .milliseconds(290))
    }
}
