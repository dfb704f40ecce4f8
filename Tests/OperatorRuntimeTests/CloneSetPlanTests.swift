import KubeModel
import PropertyBased
@testable import SampleOperator
import Testing

@Suite struct CloneSetPlanTests {
    func spec(replicas: Int, type: String = "ReCreate", partition: JSON? = nil, maxUnavailable: JSON? = nil, delete: [String] = []) throws -> CloneSetSpec {
        var strategy: JSON = ["type": .string(type)]
        if let partition { strategy["partition"] = partition }
        if let maxUnavailable { strategy["maxUnavailable"] = maxUnavailable }
        return try CloneSetSpec([
            "spec": ["replicas": .int(replicas), "selector": ["matchLabels": ["app": "x"]],
                     "template": ["metadata": ["labels": ["app": "x"]], "spec": ["containers": [["name": "c", "image": "i:1"]]]],
                     "updateStrategy": strategy, "scaleStrategy": ["podsToDelete": .array(delete.map { .string($0) })]],
        ])
    }

    func pods(_ count: Int, revision: String = "new", imageless: String = "same", ready: Bool = true) -> [CloneSetPlan.Pod] {
        (0..<count).map {
            CloneSetPlan.Pod(name: "p\($0)", uid: "u\($0)", revision: revision, imagelessRevision: imageless, ready: ready,
                             updating: false, creationTimestamp: "2026-01-01T00:00:0\($0)Z")
        }
    }

    @Test func scalesUpAndDownPreferringUnavailableThenOldThenYoungest() throws {
        #expect(CloneSetPlan.plan(try spec(replicas: 3), updateRevision: "new", imagelessRevision: "same", pods: pods(1)) == [.create(2)])
        var current = pods(4)
        current[1].revision = "old"
        current[2].ready = false
        let steps = CloneSetPlan.plan(try spec(replicas: 1), updateRevision: "new", imagelessRevision: "same", pods: current)
        #expect(steps == [.delete(current[2]), .delete(current[1]), .delete(current[3])])
    }

    @Test func podsToDeleteAreDeletedAndReplaced() throws {
        let steps = CloneSetPlan.plan(try spec(replicas: 3, delete: ["p1"]), updateRevision: "new", imagelessRevision: "same", pods: pods(3))
        #expect(steps == [.delete(pods(3)[1]), .create(1)])
    }

    @Test func imageOnlyChangesGoInPlaceWhenAllowedElseRecreate() throws {
        let old = pods(2, revision: "old", imageless: "same")
        #expect(CloneSetPlan.plan(try spec(replicas: 2, type: "InPlaceIfPossible", maxUnavailable: 2), updateRevision: "new",
                                  imagelessRevision: "same", pods: old) == old.map { .updateInPlace($0) })
        #expect(CloneSetPlan.plan(try spec(replicas: 2, type: "ReCreate", maxUnavailable: 2), updateRevision: "new",
                                  imagelessRevision: "same", pods: old) == old.map { .recreate($0) })
        // Not only images changed: InPlaceIfPossible recreates, InPlaceOnly leaves the pods alone.
        #expect(CloneSetPlan.plan(try spec(replicas: 2, type: "InPlaceIfPossible", maxUnavailable: 2), updateRevision: "new",
                                  imagelessRevision: "other", pods: old) == old.map { .recreate($0) })
        #expect(CloneSetPlan.plan(try spec(replicas: 2, type: "InPlaceOnly", maxUnavailable: 2), updateRevision: "new",
                                  imagelessRevision: "other", pods: old).isEmpty)
    }

    @Test func partitionKeepsOldPodsAsIntegerOrPercent() throws {
        let old = pods(10, revision: "old")
        let byCount = CloneSetPlan.plan(try spec(replicas: 10, partition: 7, maxUnavailable: 10), updateRevision: "new",
                                        imagelessRevision: "same", pods: old)
        #expect(byCount.count == 3)
        // 25% of 10 rounds up to 3 kept.
        let byPercent = CloneSetPlan.plan(try spec(replicas: 10, partition: "25%", maxUnavailable: "100%"), updateRevision: "new",
                                          imagelessRevision: "same", pods: old)
        #expect(byPercent.count == 7)
    }

    @Test func rejectsAnUnknownStrategyAndABadPercentage() {
        #expect(throws: CloneSetSpec.Invalid.self) { try spec(replicas: 1, type: "Rolling") }
        #expect(throws: CloneSetSpec.Invalid.self) { try spec(replicas: 1, partition: "many") }
    }

    /// Whatever the pods and the strategy, a rolling update never takes more available pods
    /// down than maxUnavailable allows, never touches more than replicas − partition, and never
    /// plans an update while the replica count is wrong.
    @Test func rolloutRespectsMaxUnavailableAndPartition() async throws {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var random = seeded(seed)
            let replicas = Int.random(in: 0...12, using: &random)
            let partition = Int.random(in: 0...replicas + 2, using: &random)
            let maxUnavailable = Int.random(in: 1...4, using: &random)
            let type = ["ReCreate", "InPlaceIfPossible", "InPlaceOnly"].randomElement(using: &random)!
            let current: [CloneSetPlan.Pod] = (0..<Int.random(in: 0...14, using: &random)).map { i in
                CloneSetPlan.Pod(name: "p\(i)", uid: "u\(i)", revision: Bool.random(using: &random) ? "new" : "old",
                                 imagelessRevision: Bool.random(using: &random) ? "same" : "other",
                                 ready: Int.random(in: 0..<4, using: &random) > 0, updating: Int.random(in: 0..<6, using: &random) == 0,
                                 creationTimestamp: "t\(i)")
            }
            let s = try #require(try? spec(replicas: replicas, type: type, partition: .int(partition), maxUnavailable: .int(maxUnavailable)))
            let steps = CloneSetPlan.plan(s, updateRevision: "new", imagelessRevision: "same", pods: current)
            let updates = steps.compactMap { step -> CloneSetPlan.Pod? in
                switch step {
                case .updateInPlace(let p), .recreate(let p): p
                default: nil
                }
            }
            if updates.isEmpty { return }
            #expect(current.count == replicas, "updates planned while scaling")
            let unavailable = current.filter { !$0.available }.count
            let takenDown = updates.filter(\.available).count
            #expect(takenDown <= max(0, maxUnavailable - unavailable))
            let alreadyNew = current.filter { $0.revision == "new" }.count
            #expect(alreadyNew + updates.count <= max(0, replicas - partition))
            #expect(updates.allSatisfy { $0.revision == "old" })
            if type == "InPlaceOnly" { #expect(steps.allSatisfy { if case .updateInPlace = $0 { true } else { false } }) }
            if type == "ReCreate" { #expect(steps.allSatisfy { if case .recreate = $0 { true } else { false } }) }
        }
    }
}
