import ArgumentParser
import Foundation
import KubeModel
import MeshCore

/// CPU time the proxy's policy step spends on a request no rule matches, with the policies
/// `policy_bench.py` loads: the engine's indexed `concerns` beside matching every rule, in
/// nanoseconds per request. Unlike latency through a proxy, this is not drowned by the
/// machine's noise.
struct PolicyMatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy-match",
                                                    abstract: "Nanoseconds per request for the policy step's non-matching case.")

    @Option(help: "A JSON file with a list of FaultInjection and CircuitBreaker objects.")
    var policies: String

    @Option(help: "Requests to time.")
    var requests = 2_000_000

    func run() throws {
        let objects = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: policies))))
        let documents = try (objects.arrayValue ?? []).map { try PolicyDocument(object: $0) }
        var engine = PolicyEngine()
        engine.load(documents, now: 0, wall: 0)
        let rules = documents.reduce(0) { $0 + $1.faults.count + $1.limits.count + $1.intercepts.count }
        let path = "/api/v1/namespaces/default/configmaps/bench"
        let facts = RequestFacts(method: "GET", path: path, upstream: "http://127.0.0.1:6443",
                                 info: RequestInfo.classify(method: "GET", target: path))
        let indexed = time { engine.concerns(facts) }
        let everyRule = time {
            documents.contains { document in
                document.faults.contains { $0.match.matches(facts) } || document.limits.contains { $0.match.matches(facts) }
                    || document.intercepts.contains { $0.match.matches(facts) }
            }
        }
        print("policy-match rules=\(rules) indexed_ns=\(String(format: "%.0f", indexed)) every_rule_ns=\(String(format: "%.0f", everyRule))")
    }

    /// Nanoseconds per call; a call that says a rule matched would void the measurement.
    func time(_ body: () -> Bool) -> Double {
        let clock = ContinuousClock()
        var matched = 0
        let elapsed = clock.measure {
            for _ in 0..<requests where body() { matched += 1 }
        }
        precondition(matched == 0, "a rule matched the benchmark request")
        return elapsed.seconds * 1e9 / Double(requests)
    }
}
