import KubeModel
import Logging
import MeshControl
import MeshCore
@testable import MeshManager
import Testing

@Suite struct PolicyBookTests {
    static let breaker = breaker(interval: "1s")

    static func breaker(limit: Int = 1000, interval: String) -> JSON {
        ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "CircuitBreaker",
         "metadata": ["name": "risk", "namespace": "ops", "generation": 3, "managedFields": [["manager": "kubectl"]]],
         "spec": ["selector": ["matchLabels": ["app": "op"]],
                  "rateLimitings": [["name": "deletes", "resourceRules": [["verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]]],
                                     "bucket": ["limit": .int(limit), "burst": 1, "interval": .string(interval)]]]],
         "status": ["currentSpecHash": "old"]]
    }
    static let resource = PolicyDocument.resource(group: MeshConfig.group, kind: .circuitBreaker)
    static let key = "ctrlmesh.kruise.io/CircuitBreaker/ops/risk"

    static func session() -> (AsyncStream<ManagerMessage>, AsyncStream<ManagerMessage>.Continuation) {
        AsyncStream<ManagerMessage>.makeStream()
    }

    @Test func selectedPodsGetThePoliciesAndOthersNone() async throws {
        let book = PolicyBook(logger: Logger(label: "test"))
        await book.upserted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        let (selected, toSelected) = PolicyBookTests.session()
        let (other, toOther) = PolicyBookTests.session()
        await book.joined(session: 1, pod: "op-0", namespace: "ops", labels: ["app": "op"], send: toSelected)
        await book.joined(session: 2, pod: "db-0", namespace: "ops", labels: ["app": "db"], send: toOther)
        var a = selected.makeAsyncIterator()
        var b = other.makeAsyncIterator()
        guard case .policies(let objects)? = await a.next() else { Issue.record("expected policies"); return }
        // Status and managed fields stay behind; the proxy parses what it gets the same way.
        #expect(objects.count == 1 && objects[0]["status"] == nil && objects[0]["metadata"]?["managedFields"] == nil)
        #expect(try PolicyDocument(object: objects[0]).specHash == (try PolicyDocument(object: PolicyBookTests.breaker)).specHash)
        guard case .policies(let none)? = await b.next() else { Issue.record("expected an empty set"); return }
        #expect(none.isEmpty)
        // A deleted policy is withdrawn.
        await book.deleted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        guard case .policies(let after)? = await a.next() else { Issue.record("expected the withdrawal"); return }
        #expect(after.isEmpty)
    }

    /// The operator-wide bucket starts empty (a new leader cannot know what its predecessor
    /// granted), then grants at its rate to whoever asks.
    @Test func operatorBucketsStartEmptyAndAreShared() async throws {
        let book = PolicyBook(logger: Logger(label: "test"))
        await book.upserted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        let first = await book.acquire(policy: PolicyBookTests.key, rule: "deletes")
        #expect(first != nil && first! <= 0.001)
        try await Task.sleep(for: .milliseconds(20))
        #expect(await book.acquire(policy: PolicyBookTests.key, rule: "deletes") == nil)
        // Burst 1: a second proxy asking at once waits.
        #expect(await book.acquire(policy: PolicyBookTests.key, rule: "deletes") != nil)
        // A rule that no longer exists limits nothing.
        #expect(await book.acquire(policy: PolicyBookTests.key, rule: "gone") == nil)
    }

    @Test func reportsBecomeStatusAndBreakerEvents() async throws {
        let book = PolicyBook(logger: Logger(label: "test"))
        await book.upserted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        let (_, send) = PolicyBookTests.session()
        await book.joined(session: 1, pod: "op-0", namespace: "ops", labels: ["app": "op"], send: send)
        let document = try PolicyDocument(object: PolicyBookTests.breaker)
        var rule = PolicyReport.Rule(name: "deletes")
        rule.matched = 9
        rule.limited = 2
        rule.state = "Opened"
        rule.lastTransitionTime = "2026-11-22T10:00:00Z"
        await book.reported(session: 1, reports: [PolicyReport(key: PolicyBookTests.key, specHash: document.specHash, rules: [rule])])
        let (updates, transitions) = await book.takeDirty()
        let status = try #require(updates.first { $0.name == "risk" }?.status)
        #expect(status["currentSpecHash"]?.stringValue == document.specHash && status["observedGeneration"]?.intValue == 3)
        let target = try #require(status["targetStatus"]?.arrayValue?.first)
        #expect(target["podName"] == "op-0" && target["configHash"]?.stringValue == document.specHash && target["message"] == "applied")
        #expect(target["limitingSnapshots"] == [["name": "deletes", "state": "Opened", "lastTransitionTime": "2026-11-22T10:00:00Z"]])
        #expect(target["rules"] == [["name": "deletes", "matched": 9, "limited": 2]])
        #expect(transitions.map(\.state) == ["Opened"] && transitions.first?.pod == "op-0")
        // The pod disconnects: its row stays, marked, until the pod has been gone `forgetAfter`.
        await book.left(session: 1)
        let later = await book.takeDirty().updates.first?.status["targetStatus"]?.arrayValue?.first
        #expect(later?["message"] == "disconnected; last report shown")
    }

    @Test func podsGoneLongEnoughLeaveTheStatus() async throws {
        let book = PolicyBook(logger: Logger(label: "test"), forgetAfter: .milliseconds(50))
        await book.upserted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        let (_, send) = PolicyBookTests.session()
        await book.joined(session: 1, pod: "op-0", namespace: "ops", labels: ["app": "op"], send: send)
        await book.left(session: 1)
        #expect(await book.takeDirty().updates.first?.status["targetStatus"]?.arrayValue?.count == 1)
        try await Task.sleep(for: .milliseconds(60))
        #expect(await book.takeDirty().updates.first?.status["targetStatus"]?.arrayValue?.count == 0)
    }

    @Test func invalidPoliciesGetAnInvalidSpecCondition() async {
        let book = PolicyBook(logger: Logger(label: "test"))
        var bad = PolicyBookTests.breaker
        bad.setValue(.array([]), at: ["spec", "rateLimitings"])
        await book.upserted(resource: PolicyBookTests.resource, object: bad)
        let update = await book.takeDirty().updates.first
        #expect(update?.status["conditions"]?.arrayValue?.first?["reason"] == "InvalidSpec")
        #expect(update?.status["conditions"]?.arrayValue?.first?["message"]?.stringValue?.contains("spec: Required value") == true)
        // Fixed again: Ready, with the InvalidSpec condition replaced.
        await book.upserted(resource: PolicyBookTests.resource, object: PolicyBookTests.breaker)
        let fixed = await book.takeDirty().updates.first
        #expect(fixed?.status["conditions"]?.arrayValue?.first?["reason"] == "Valid")
    }

    /// An invalid edit keeps the last valid version in force, and going back to it clears the
    /// condition even though nothing is sent again.
    @Test func anInvalidEditKeepsTheLastValidVersion() async {
        let book = PolicyBook(logger: Logger(label: "test"))
        let slow = PolicyBookTests.breaker(limit: 1, interval: "1h")
        await book.upserted(resource: PolicyBookTests.resource, object: slow)
        let (sent, send) = PolicyBookTests.session()
        await book.joined(session: 1, pod: "op-0", namespace: "ops", labels: ["app": "op"], send: send)
        _ = await book.takeDirty()
        var bad = slow
        bad.setValue(.array([]), at: ["spec", "rateLimitings"])
        await book.upserted(resource: PolicyBookTests.resource, object: bad)
        #expect(await book.takeDirty().updates.first?.status["conditions"]?.arrayValue?.first?["reason"] == "InvalidSpec")
        #expect(await book.acquire(policy: PolicyBookTests.key, rule: "deletes") != nil)  // still limited
        await book.upserted(resource: PolicyBookTests.resource, object: slow)
        #expect(await book.takeDirty().updates.first?.status["conditions"]?.arrayValue?.first?["reason"] == "Valid")
        send.finish()
        var messages = 0
        for await _ in sent { messages += 1 }
        #expect(messages == 1)  // the policies, once
    }
}
