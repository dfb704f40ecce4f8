@testable import MeshManager
import KubeClient
import KubeModel
import KubeYAML
import MeshCore
import Testing

@Suite struct PolicyDocumentTests {
    @Test func embeddedCRDsMatchTheManifests() throws {
        #expect(PolicyCRDs.faultInjection + "\n" == (try Fixtures.text("manifests/crds/ctrlmesh.kruise.io_faultinjections.yaml")))
        #expect(PolicyCRDs.circuitBreaker + "\n" == (try Fixtures.text("manifests/crds/ctrlmesh.kruise.io_circuitbreakers.yaml")))
        #expect(try YAMLDocument.parse(PolicyCRDs.faultInjection)["spec"]?["names"]?["kind"] == "FaultInjection")
        #expect(try YAMLDocument.parse(PolicyCRDs.circuitBreaker)["spec"]?["names"]?["kind"] == "CircuitBreaker")
    }

    /// KusionStack's demo manifests mean what they say.
    @Test func kusionStackDemosParse() throws {
        let fault = try PolicyDocument(object: try #require(try Fixtures.documents("Tests/fixtures/kusionstack/faultinjection-demo.yaml").first))
        #expect(fault.kind == .faultInjection && fault.group == MeshConfig.kusionGroup && fault.faults.count == 2)
        #expect(fault.faults[0].delay == DelayFault(min: .seconds(5), percent: 10))
        #expect(fault.faults[0].match.http == [HTTPMatch(method: "POST", url: .glob(Glob("https://*.com/*/trafficOff")))])
        #expect(fault.faults[1].abort?.status.code == 500 && fault.faults[1].abort?.percent == 100)
        let deletePod = RequestFacts(method: "DELETE", path: "/api/v1/namespaces/x/pods/p", info: RequestInfo.classify(method: "DELETE", target: "/api/v1/namespaces/x/pods/p"))
        #expect(fault.faults[1].match.matches(deletePod))

        let breaker = try PolicyDocument(object: try #require(try Fixtures.documents("Tests/fixtures/kusionstack/circuitbreaker-demo.yaml").first))
        #expect(breaker.limits.map(\.name) == ["deletePod", "trafficOffLimit"])
        let deletes = breaker.limits[0]
        #expect(deletes.bucket == LimitRule.Bucket(limit: 1, burst: 1, interval: .seconds(10)))
        #expect(deletes.trigger == .limiterOnly && deletes.recovery == .sleepingWindow(.seconds(600)))
        #expect(deletes.scope == .pod)  // KusionStack's buckets are per proxy
        #expect(deletes.match.matches(deletePod))
        #expect(breaker.intercepts.count == 1 && breaker.intercepts[0].kind == .allow && breaker.intercepts[0].methods == ["POST", "GET", "PUT"])
        #expect(breaker.selects(namespace: "kusionstack-system", labels: ["control-plane": "kusionstack-operating"]))
        #expect(!breaker.selects(namespace: "default", labels: ["control-plane": "kusionstack-operating"]))
    }

    @Test func theShippedSamplesParse() throws {
        for document in try Fixtures.documents("manifests/samples/policies.yaml") {
            let policy = try PolicyDocument(object: document)
            #expect(policy.group == MeshConfig.group)
        }
    }

    @Test func problemsAreReportedWithTheirFieldPaths() {
        let bad: JSON = ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "CircuitBreaker", "metadata": ["name": "cb", "namespace": "ns"],
                         "spec": ["selector": ["matchLabels": ["app": "op"]], "rateLimitings": [
                            ["name": "a", "resourceRules": [["resources": ["pods"]]], "bucket": ["limit": 0, "interval": "soon"],
                             "triggerPolicy": "Sometimes"],
                            ["name": "a", "maxInFlight": 3, "resourceRules": [["resources": ["pods"]]]],
                         ]]]
        #expect(throws: FieldErrors([
            "spec.rateLimitings[0].bucket.interval: Invalid value: must be a duration such as 500ms, 5s or 1m",
            "spec.rateLimitings[0].bucket.limit: Invalid value: 0: must be at least 1",
            "spec.rateLimitings[0].triggerPolicy: Unsupported value: \"Sometimes\": supported values: \"Normal\", \"LimiterOnly\", \"ForceOpened\", \"ForceClosed\"",
            "spec.rateLimitings[1].name: Duplicate value: \"a\"",
            "spec.rateLimitings[1].maxInFlight: Invalid value: in-flight limits are kept by each proxy; use scope Pod",
        ])) { try PolicyDocument(object: bad) }
        let noFaults: JSON = ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "FaultInjection", "metadata": ["name": "f"],
                              "spec": ["selector": ["matchLabels": ["app": "op"]],
                                       "httpFault": [["match": ["resources": [["resources": ["pods"]]]], "abort": ["httpStatus": 200, "percent": "x"]]]]]
        #expect(throws: FieldErrors([
            "spec.httpFault[0].abort.httpStatus: Invalid value: 200: must be an HTTP error status (400-599)",
            "spec.httpFault[0].abort.percent: Invalid value: must be a percentage from 0 to 100",
        ])) { try PolicyDocument(object: noFaults) }
        // The validating webhook refuses it with the same problems.
        let response = AdmissionWebhook.validatePolicy(["object": noFaults])
        #expect(response["allowed"] == false && response["status"]?["code"] == 422)
        #expect(response["status"]?["message"]?.stringValue?.hasPrefix("FaultInjection.ctrlmesh.kruise.io \"f\" is invalid: spec.httpFault[0].abort.httpStatus") == true)
    }
}
