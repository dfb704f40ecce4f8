import KubeModel
import MeshControl
import MeshCore
import Testing

@Suite struct MeshMessagesTests {
    static let spec = ShardSpec(shard: "op-1", epoch: 7, resources: [.init(apiGroups: [""], resources: ["pods"], key: .object)],
                                owned: .init(objectHashRanges: [HashRange(start: 0, last: 1 << 40)]),
                                leaderElection: .init(namespace: "ns", name: "lock"))

    static let rule = {
        var rule = PolicyReport.Rule(name: "deletes")
        rule.matched = 12
        rule.limited = 3
        rule.state = "Opened"
        rule.lastTransitionTime = "2026-11-22T10:00:00Z"
        return rule
    }()

    @Test func everyMessageRoundTrips() throws {
        let up: [ProxyMessage] = [.register(pod: "op-3", namespace: "ns", applied: MeshMessagesTests.spec),
                                  .register(pod: "op-3", namespace: "ns", applied: nil), .ack(epoch: 7), .fenced, .heartbeat,
                                  .acquire(id: 9, policy: "ctrlmesh.kruise.io/CircuitBreaker/ns/cb", rule: "deletes"),
                                  .report([PolicyReport(key: "k", specHash: "ab12", rules: [MeshMessagesTests.rule])]), .traffic(requests: 40, errors: 3)]
        for message in up {
            let bytes: [UInt8] = try JSONMessageSerializer<ProxyMessage>().serialize(message)
            #expect(try JSONMessageDeserializer<ProxyMessage>().deserialize(bytes) == message)
        }
        let down: [ManagerMessage] = [.spec(MeshMessagesTests.spec), .unassigned(reason: "no config"), .heartbeat,
                                      .policies([["kind": "FaultInjection", "spec": ["seed": 1]]]), .grant(id: 9, retryAfter: nil),
                                      .grant(id: 10, retryAfter: 2.5)]
        for message in down {
            let bytes: [UInt8] = try JSONMessageSerializer<ManagerMessage>().serialize(message)
            #expect(try JSONMessageDeserializer<ManagerMessage>().deserialize(bytes) == message)
        }
    }

    @Test func malformedMessagesAreRejected() {
        for text in ["{", "{\"launch\": {}}", "{\"ack\": {}}", "{\"register\": {\"pod\": \"x\"}}", "{\"spec\": {\"shard\": \"\"}}"] {
            #expect(throws: (any Error).self) { try JSONMessageDeserializer<ProxyMessage>().deserialize(Array(text.utf8)) as ProxyMessage }
        }
    }
}
