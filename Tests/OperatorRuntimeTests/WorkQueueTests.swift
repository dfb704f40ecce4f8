import KubeClient
import KubeModel
@testable import OperatorRuntime
import PropertyBased
import Synchronization
import Testing

@Suite struct WorkQueueStateTests {
    /// Random adds, pops and dones against a model: a key is never handed out while it is
    /// being processed, never waits twice, and every add is eventually worked on.
    @Test func neverHandsOutAKeyTwiceAndLosesNoAdd() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = seeded(seed)
            var state = WorkQueueState<Int>()
            var inHand: [Int] = []
            // Keys added since the worker last took them: they must be worked on again.
            var owed = Set<Int>()
            for _ in 0..<200 {
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    let key = Int.random(in: 0..<5, using: &random)
                    _ = state.add(key)
                    owed.insert(key)
                case 1:
                    if let key = state.pop() {
                        #expect(!inHand.contains(key), "key \(key) handed to two workers")
                        inHand.append(key)
                        owed.remove(key)
                    }
                default:
                    if !inHand.isEmpty {
                        let key = inHand.remove(at: Int.random(in: 0..<inHand.count, using: &random))
                        _ = state.done(key)
                    }
                }
                #expect(Set(state.queue).count == state.queue.count, "a key waits in the queue twice")
            }
            // Drain: finish what is in hand, then work off the queue.
            for key in inHand { _ = state.done(key) }
            while let key = state.pop() {
                owed.remove(key)
                _ = state.done(key)
            }
            #expect(owed.isEmpty, "adds lost: \(owed)")
            #expect(state.processing.isEmpty && state.dirty.isEmpty)
        }
    }

    @Test func addDuringProcessingRequeuesOnlyWhenDone() {
        var state = WorkQueueState<String>()
        let added = state.add("a")
        #expect(added)
        #expect(state.pop() == "a")
        let addedWhileProcessing = state.add("a")
        #expect(!addedWhileProcessing, "queued while being processed")
        #expect(state.pop() == nil)
        let requeued = state.done("a")
        #expect(requeued)
        #expect(state.pop() == "a")
        let requeuedAgain = state.done("a")
        #expect(!requeuedAgain)
    }
}

@Suite struct WorkQueueConcurrencyTests {
    /// Eight workers, a few hot keys added thousands of times: no key is reconciled by two
    /// workers at once, and the last add of every key is worked on after it was made.
    @Test func oneWorkerPerKeyAndLastAddSeen() async {
        let queue = WorkQueue<Int>()
        let active = Locked([Int: Int]())
        let overlaps = Locked(0)
        let lastAdd = Locked([Int: Int]())
        let lastSeen = Locked([Int: Int]())
        let counter = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while let key = await queue.get() {
                        let begin = counter.withLock { $0 += 1; return $0 }
                        let concurrent = active.withLock { $0[key, default: 0] += 1; return $0[key]! }
                        if concurrent > 1 { overlaps.withLock { $0 += 1 } }
                        await Task.yield()
                        active.withLock { $0[key]! -= 1 }
                        lastSeen.withLock { $0[key] = max($0[key] ?? 0, begin) }
                        queue.done(key)
                    }
                }
            }
            for _ in 0..<5_000 {
                let key = Int.random(in: 0..<6)
                let stamp = counter.withLock { $0 += 1; return $0 }
                lastAdd.withLock { $0[key] = stamp }
                queue.add(key)
                if Bool.random() { await Task.yield() }
            }
            while queue.depth > 0 || active.withLock({ $0.values.contains { $0 > 0 } }) {
                try? await Task.sleep(for: .milliseconds(5))
            }
            try? await Task.sleep(for: .milliseconds(20))
            queue.shutDown()
        }
        #expect(overlaps.withLock { $0 } == 0)
        let adds = lastAdd.withLock { $0 }
        let seen = lastSeen.withLock { $0 }
        for (key, stamp) in adds {
            #expect((seen[key] ?? 0) > stamp, "key \(key): last add at \(stamp) never worked on after it")
        }
    }

    @Test func shutDownReleasesWaitingWorkers() async {
        let queue = WorkQueue<String>()
        async let first = queue.get()
        async let second = queue.get()
        try? await Task.sleep(for: .milliseconds(20))
        queue.shutDown()
        let (a, b) = await (first, second)
        #expect(a == nil && b == nil)
    }

    @Test func aCancelledWaitReturnsNilAndLeavesTheQueueWorking() async {
        let queue = WorkQueue<String>()
        let waiting = Task { await queue.get() }
        try? await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        #expect(await waiting.value == nil)
        queue.add("k")
        #expect(await queue.get() == "k", "the cancelled waiter did not take the key")
        queue.shutDown()
    }

    @Test func rateLimitedAddsComeBackAfterTheirBackoff() async throws {
        let queue = WorkQueue<String>(backoff: ItemBackoff(base: .milliseconds(40), cap: .seconds(1)))
        let clock = ContinuousClock()
        let start = clock.now
        queue.addRateLimited("k")
        queue.addRateLimited("k")  // second failure: 80 ms
        #expect(queue.requeues("k") == 2)
        let key = await queue.get()
        #expect(key == "k")
        #expect(start.duration(to: clock.now) >= .milliseconds(40))
        queue.done("k")
        queue.forget("k")
        #expect(queue.requeues("k") == 0)
        queue.shutDown()
    }
}

@Suite struct BackoffAndRateLimitTests {
    @Test func backoffDoublesPerFailureUpToTheCapAndForgetResets() {
        var backoff = ItemBackoff<String>(base: .milliseconds(5), cap: .seconds(1))
        let delays = (0..<10).map { _ in backoff.next("a") }
        #expect(Array(delays.prefix(8)) == [5, 10, 20, 40, 80, 160, 320, 640].map { Duration.milliseconds($0) })
        #expect(delays[8] == .seconds(1) && delays[9] == .seconds(1))
        #expect(backoff.next("b") == .milliseconds(5), "keys back off independently")
        backoff.forget("a")
        #expect(backoff.next("a") == .milliseconds(5))
        for _ in 0..<200 { _ = backoff.next("c") }
        #expect(backoff.next("c") == .seconds(1), "no overflow after many failures")
    }

    /// Whatever the arrival pattern, tokens are never used faster than burst + rate × time.
    @Test func tokenBucketNeverExceedsItsRate() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = seeded(seed)
            let rate = Double(Int.random(in: 1...50, using: &random))
            let burst = Int.random(in: 1...20, using: &random)
            var bucket = TokenBucket(rate: rate, burst: burst, now: 0)
            var now = 0.0
            var grants: [Double] = []
            for _ in 0..<300 {
                now += Double.random(in: 0...(2 / rate), using: &random)
                grants.append(now + bucket.reserve(now: now))
            }
            grants.sort()
            for (i, start) in grants.enumerated() {
                let window = grants[i...].prefix { $0 <= start + 1.0 }.count
                #expect(Double(window) <= Double(burst) + rate * 1.0 + 1e-6)
            }
        }
    }

    @Test func clientRateLimiterDelaysBeyondTheBurst() async throws {
        let limiter = RateLimiter(qps: 20, burst: 5)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<15 { try await limiter.wait() }
        // 5 at once, then 10 more at 20 per second: at least 0.5 s.
        #expect(start.duration(to: clock.now) >= .milliseconds(450))
    }
}
