@testable import MeshHTTP
import NIOHTTP1
import Testing

/// The one retry rule both upstream executors follow, as a state machine.
@Suite struct UpstreamAttemptTests {
    struct Reset: Error {}

    @Test func aGetThatFailsOnAReusedConnectionBeforeAnyAnswerIsRetriedOnce() {
        var attempt = UpstreamAttempt(method: .GET)
        attempt.sent()
        #expect(attempt.failed(Reset(), reused: true) == .retry)
        #expect(attempt.phase == .connecting && attempt.awaitingAnswer)
        attempt.sent()
        #expect(attempt.failed(Reset(), reused: true) == .beforeAnswer, "a second failure is the caller's to answer")
    }

    @Test func aConnectionClosedUnderAFreshGetIsRetriedToo() {
        var attempt = UpstreamAttempt(method: .GET)
        attempt.sent()
        #expect(attempt.failed(UpstreamConnection.Closed(), reused: false) == .retry)
    }

    @Test func writesAndFreshConnectionFailuresAreNeverRetried() {
        for method in [HTTPMethod.POST, .PUT, .PATCH, .DELETE] {
            var attempt = UpstreamAttempt(method: method)
            attempt.sent()
            #expect(attempt.failed(UpstreamConnection.Closed(), reused: true) == .beforeAnswer, "\(method)")
        }
        var fresh = UpstreamAttempt(method: .GET)
        fresh.sent()
        #expect(fresh.failed(Reset(), reused: false) == .beforeAnswer)
    }

    @Test func failuresOnceTheAnswerBeganOrEndedAreNotRetried() {
        var attempt = UpstreamAttempt(method: .GET)
        #expect(attempt.failed(Reset(), reused: true) == .ignored, "no connection yet: the pool reports its own failure")
        attempt.sent()
        attempt.answering()
        #expect(!attempt.awaitingAnswer)
        #expect(attempt.failed(Reset(), reused: true) == .midAnswer)
        attempt.finished()
        #expect(attempt.failed(Reset(), reused: true) == .ignored)
    }
}
