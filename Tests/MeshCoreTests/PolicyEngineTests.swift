import KubeModel
import MeshCore
import PropertyBased
import Testing

/// Policies built from objects, as the proxy gets them.
enum Policies {
    static func faultInjection(_ rules: JSON, seed: Int? = 42, disabled: Bool = false) throws -> PolicyDocument {
        var spec: JSON = ["selector": ["matchLabels": ["app": "op"]], "httpFault": rules, "disabled": .bool(disabled)]
        if let seed { spec.setValue(.int(seed), at: ["seed"]) }
        return try PolicyDocument(object: ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "FaultInjection",
                                           "metadata": ["name": "faults", "namespace": "ops"], "spec": spec])
    }

    static func circuitBreaker(_ spec: JSON, reset: String? = nil) throws -> PolicyDocument {
        var full = spec
        full.setValue(["matchLabels": ["app": "op"]], at: ["selector"])
        var metadata: JSON = ["name": "breaker", "namespace": "ops"]
        if let reset { metadata.setValue([PolicyDocument.resetAnnotation: .string(reset)], at: ["annotations"]) }
        return try PolicyDocument(object: ["apiVersion": "ctrlmesh.kruise.io/v1alpha1", "kind": "CircuitBreaker", "metadata": metadata, "spec": full])
    }

    static let createPods: JSON = ["resources": [["verbs": ["create"], "apiGroups": [""], "resources": ["pods"]]]]
    static let deletePods: JSON = ["resources": [["verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]]]]

    static func request(_ method: String, _ path: String, query: String = "") -> RequestFacts {
        RequestFacts(method: method, path: path, upstream: "https://127.0.0.1:6443",
                     info: RequestInfo.classify(method: method, target: query.isEmpty ? path : path + "?" + query))
    }

    static let createPod = request("POST", "/api/v1/namespaces/a/pods")
    static let deletePod = request("DELETE", "/api/v1/namespaces/a/pods/p")
    static let getPod = request("GET", "/api/v1/namespaces/a/pods/p")
}

@Suite struct PercentDrawsTests {
    /// Pinned so that anyone recomputing a seeded experiment (the interop tests do, in
    /// Python) gets the same sequence.
    @Test func seededSequenceIsPinned() {
        var draws = PercentDraws(seed: 42, rule: "abort-creates", fault: "abort")
        let expected = [20.954653134519894, 90.420277472025, 96.22653825348173, 64.64521571165265, 9.439817648561577]
        for value in expected { #expect(abs(draws.next() - value) < 1e-9) }
    }

    @Test func hitRateFollowsThePercentage() async {
        await propertyCheck(count: 10, input: Gen.uint64(), Gen.int(in: 1...99)) { seed, percent in
            var draws = PercentDraws(seed: seed, rule: "r", fault: "abort")
            let hits = (0..<4000).filter { _ in draws.hits(Double(percent)) }.count
            #expect(abs(Double(hits) / 40 - Double(percent)) < 4, "\(hits) of 4000 at \(percent)%")
        }
    }
}

@Suite struct BreakerStateTests {
    static let triggers: [LimitRule.Trigger] = [.normal, .limiterOnly, .forceOpened, .forceClosed]
    static let recoveries: [LimitRule.Recovery] = [.manual, .sleepingWindow(.seconds(10))]
    static let events: [BreakerState.Event] = [.overLimit, .reset, .tick]

    /// Every event in every state under every trigger and recovery, against the table.
    @Test func everyTransition() {
        for trigger in BreakerStateTests.triggers {
            for recovery in BreakerStateTests.recoveries {
                for startOpen in [false, true] {
                    for event in BreakerStateTests.events {
                        for elapsed in [1.0, 10.0] {
                            var breaker = BreakerState()
                            if startOpen { breaker.handle(.overLimit, trigger: .normal, recovery: recovery, now: 0, wall: 100) }
                            let changed = breaker.handle(event, trigger: trigger, recovery: recovery, now: elapsed, wall: 100 + elapsed)
                            let expectedOpen: Bool
                            switch (startOpen, event) {
                            case (false, .overLimit): expectedOpen = trigger == .normal
                            case (false, _): expectedOpen = false
                            case (true, _) where trigger != .normal: expectedOpen = false
                            case (true, .reset): expectedOpen = false
                            case (true, .tick): expectedOpen = !(recovery != .manual && elapsed >= 10)
                            case (true, .overLimit): expectedOpen = true
                            }
                            let context = "\(trigger) \(recovery) open=\(startOpen) \(event) +\(elapsed)s"
                            #expect((breaker.state == .opened) == expectedOpen, "\(context)")
                            #expect(changed == (startOpen != expectedOpen), "\(context)")
                            if changed { #expect(breaker.lastTransition == 100 + elapsed, "\(context)") }
                        }
                    }
                }
            }
        }
    }

    @Test func forcedTriggersOverrideTheReportedState() {
        var breaker = BreakerState()
        breaker.handle(.overLimit, trigger: .normal, recovery: .manual, now: 0, wall: 0)
        #expect(breaker.reported(.normal) == .opened && breaker.reported(.forceClosed) == .closed)
        #expect(BreakerState().reported(.forceOpened) == .opened)
        #expect(breaker.secondsUntilRecovery(.sleepingWindow(.seconds(5)), now: 2) == 3)
        #expect(breaker.secondsUntilRecovery(.manual, now: 2) == nil)
    }
}

@Suite struct PolicyEngineTests {
    @Test func seededAbortsFollowTheDrawsAndCountersAgree() throws {
        let policy = try Policies.faultInjection([["name": "abort-creates", "match": Policies.createPods,
                                                   "abort": ["httpStatus": 500, "percent": "50"]]])
        var engine = PolicyEngine()
        engine.load([policy], now: 0, wall: 0)
        var reference = PercentDraws(seed: 42, rule: "abort-creates", fault: "abort")
        var aborted = 0
        for _ in 0..<200 {
            let admission = engine.admit(Policies.createPod, now: 0, wall: 0)
            let expected = reference.hits(50)
            if case .refuse(let status) = admission.verdict {
                #expect(expected && status.code == 500 && status.reason == .internalError)
                aborted += 1
            } else {
                #expect(!expected)
            }
            // Requests the rule does not match draw nothing.
            #expect(engine.admit(Policies.getPod, now: 0, wall: 0).verdict == .proceed)
        }
        let rule = try #require(engine.reports().first?.rules.first)
        #expect(rule.matched == 200 && rule.aborted == aborted && aborted > 60 && aborted < 140)
    }

    @Test func abortStatusesAreTheAPIServersOwn() {
        for (code, reason) in [(409, StatusError.Reason.conflict), (429, .tooManyRequests), (500, .internalError),
                               (503, .serviceUnavailable), (504, .timeout)] {
            let status = AbortFault.status(code: code, message: "m", retryAfterSeconds: nil)
            #expect(status.reason == reason)
            #expect((status.retryAfterSeconds != nil) == (code == 429))
        }
    }

    @Test func delaysAreDrawnInTheirRangeAndWatchFaultsOnlyHitWatches() throws {
        let policy = try Policies.faultInjection([
            ["name": "slow", "match": ["resources": [["resources": ["pods"]]]], "delay": ["fixedDelay": "100ms", "maxDelay": "300ms"]],
            ["name": "cut", "match": ["resources": [["verbs": ["watch"], "resources": ["pods"]]]],
             "watch": ["closeAfterEvents": 3, "expire": true]],
        ])
        var engine = PolicyEngine()
        engine.load([policy], now: 0, wall: 0)
        for _ in 0..<50 {
            let admission = engine.admit(Policies.getPod, now: 0, wall: 0)
            let delay = try #require(admission.delay)
            #expect(delay >= .milliseconds(100) && delay <= .milliseconds(300))
            #expect(admission.watch == nil)
        }
        let watch = engine.admit(Policies.request("GET", "/api/v1/pods", query: "watch=true"), now: 0, wall: 0)
        #expect(watch.watch == WatchFault(closeAfterEvents: 3, expire: true, percent: 100))
    }

    @Test func timeWindowsAndDisabledPoliciesInjectNothing() throws {
        let outside = try Policies.faultInjection([["match": Policies.createPods, "abort": ["httpStatus": 503],
                                                    "effectiveTime": ["startTime": "09:00", "endTime": "10:00"]]])
        var engine = PolicyEngine()
        engine.load([outside], now: 0, wall: 8 * 3600)
        #expect(engine.admit(Policies.createPod, now: 0, wall: 8 * 3600).verdict == .proceed)
        #expect(engine.admit(Policies.createPod, now: 0, wall: 9.5 * 3600).verdict != .proceed)
        engine.load([try Policies.faultInjection([["match": Policies.createPods, "abort": ["httpStatus": 503]]], disabled: true)], now: 0, wall: 0)
        #expect(engine.isEmpty)
        #expect(engine.reports().count == 1)
    }

    /// Whatever the arrival times, a pod-scoped bucket admits at most burst + rate × elapsed.
    @Test func podBucketNeverExceedsItsRate() async throws {
        let policy = try Policies.circuitBreaker(["rateLimitings": [["name": "deletes", "scope": "Pod", "match": Policies.deletePods,
                                                                     "bucket": ["limit": 5, "burst": 5, "interval": "1m"]]]])
        await propertyCheck(count: 100, input: Gen.double(in: 0...30).array(of: 1...80)) { gaps in
            var engine = PolicyEngine()
            engine.load([policy], now: 0, wall: 0)
            var now = 0.0
            var admitted = 0
            for gap in gaps {
                now += gap
                if engine.admit(Policies.deletePod, now: now, wall: now).verdict == .proceed { admitted += 1 }
            }
            #expect(Double(admitted) <= 5 + now * 5 / 60 + 1e-9)
        }
    }

    @Test func normalTriggerOpensAndTheSleepingWindowOrAResetCloses() throws {
        let spec: JSON = ["rateLimitings": [["name": "deletes", "scope": "Pod", "match": Policies.deletePods, "triggerPolicy": "Normal",
                                             "recoverPolicy": ["type": "SleepingWindow", "sleepingWindowSize": "10s"],
                                             "bucket": ["limit": 1, "burst": 1, "interval": "1s"]]]]
        var engine = PolicyEngine()
        engine.load([try Policies.circuitBreaker(spec)], now: 0, wall: 0)
        #expect(engine.admit(Policies.deletePod, now: 0, wall: 0).verdict == .proceed)
        guard case .overLimit(let handle, let retry, .reject) = engine.admit(Policies.deletePod, now: 0, wall: 0).verdict else {
            Issue.record("expected over limit")
            return
        }
        #expect(retry > 0 && engine.overLimitStatus(handle, retryAfter: retry).code == 429)
        // Open: refused even with tokens back.
        guard case .refuse(let open) = engine.admit(Policies.deletePod, now: 5, wall: 5).verdict else {
            Issue.record("expected the open breaker to refuse")
            return
        }
        #expect(open.code == 429 && open.retryAfterSeconds == 5)
        #expect(engine.reports()[0].rules[0].state == "Opened")
        let ticked = engine.tick(now: 10, wall: 10)
        #expect(ticked)
        #expect(engine.reports()[0].rules[0].state == "Closed")
        #expect(engine.admit(Policies.deletePod, now: 10, wall: 10).verdict == .proceed)
        // Trip again, then reset through the annotation.
        _ = engine.admit(Policies.deletePod, now: 10, wall: 10)
        #expect(engine.reports()[0].rules[0].state == "Opened")
        engine.load([try Policies.circuitBreaker(spec, reset: "t1")], now: 11, wall: 11)
        #expect(engine.reports()[0].rules[0].state == "Closed")
        let counters = engine.reports()[0].rules[0]
        #expect(counters.matched == 5 && counters.limited == 2 && counters.refused == 1)
    }

    @Test func inFlightSlotsAreHeldUntilFinished() throws {
        var engine = PolicyEngine()
        engine.load([try Policies.circuitBreaker(["rateLimitings": [["name": "two", "scope": "Pod", "maxInFlight": 2,
                                                                     "match": ["resources": [["resources": ["pods"]]]]]]])], now: 0, wall: 0)
        let a = engine.admit(Policies.getPod, now: 0, wall: 0)
        let b = engine.admit(Policies.getPod, now: 0, wall: 0)
        #expect(a.verdict == .proceed && b.verdict == .proceed && a.held.count == 1)
        guard case .overLimit = engine.admit(Policies.getPod, now: 0, wall: 0).verdict else {
            Issue.record("a third request in flight should be over the limit")
            return
        }
        engine.finish(a)
        #expect(engine.admit(Policies.getPod, now: 0, wall: 0).verdict == .proceed)
    }

    @Test func operatorScopeAsksTheManagerAndDenyRulesComeFirst() throws {
        let spec: JSON = [
            "rateLimitings": [["name": "deletes", "match": Policies.deletePods, "bucket": ["limit": 5, "interval": "1m"]]],
            "trafficInterceptRules": [["name": "no-namespace-deletes", "interceptType": "Blacklist", "methods": ["DELETE"],
                                       "match": ["resources": [["resources": ["namespaces", "customresourcedefinitions"]]]]]],
        ]
        var engine = PolicyEngine()
        engine.load([try Policies.circuitBreaker(spec)], now: 0, wall: 0)
        let delete = engine.admit(Policies.deletePod, now: 0, wall: 0)
        #expect(delete.verdict == .proceed && delete.shared.map(\.rule) == ["deletes"])
        // The manager says no: the rule's over-limit verdict, counted.
        #expect(engine.sharedOverLimit(delete.shared[0], retryAfter: 12, now: 0, wall: 0) != nil)
        guard case .refuse(let denied) = engine.admit(Policies.request("DELETE", "/api/v1/namespaces/prod"), now: 0, wall: 0).verdict else {
            Issue.record("deleting a namespace should be denied")
            return
        }
        #expect(denied.code == 403 && denied.message.contains("no-namespace-deletes"))
        #expect(engine.admit(Policies.request("GET", "/api/v1/namespaces/prod"), now: 0, wall: 0).verdict == .proceed)
    }

    @Test func allowListsRefuseWhatTheyDoNotName() throws {
        var engine = PolicyEngine()
        engine.load([try Policies.circuitBreaker(["trafficInterceptRules": [["name": "local-only", "interceptType": "Whitelist",
                                                                             "contentType": "Regexp", "contents": [".*(127.0.0.1).*"],
                                                                             "methods": ["POST"]]]])], now: 0, wall: 0)
        #expect(engine.admit(Policies.createPod, now: 0, wall: 0).verdict == .proceed)
        var elsewhere = Policies.createPod
        elsewhere.upstream = "https://10.0.0.1:6443"
        #expect(engine.admit(elsewhere, now: 0, wall: 0).verdict != .proceed)
        #expect(engine.admit({ var get = Policies.getPod; get.upstream = "https://10.0.0.1:6443"; return get }(), now: 0, wall: 0).verdict == .proceed)
    }

    @Test func reloadingKeepsTheStateOfUnchangedRules() throws {
        let rules: JSON = [["name": "abort-creates", "match": Policies.createPods, "abort": ["httpStatus": 500, "percent": 50]]]
        var engine = PolicyEngine()
        engine.load([try Policies.faultInjection(rules)], now: 0, wall: 0)
        for _ in 0..<10 { _ = engine.admit(Policies.createPod, now: 0, wall: 0) }
        engine.load([try Policies.faultInjection(rules)], now: 0, wall: 0)
        #expect(engine.reports()[0].rules[0].matched == 10)
        engine.load([try Policies.faultInjection([["name": "abort-creates", "match": Policies.createPods, "abort": ["httpStatus": 503]]])], now: 0, wall: 0)
        #expect(engine.reports()[0].rules[0].matched == 0)
    }

    /// The index that spares the engine most rules answers exactly as matching every rule.
    @Test func theIndexAgreesWithMatchingEveryRule() async throws {
        let resources = ["pods", "configmaps", "pods/status", "*", "secrets"]
        let verbs = ["get", "list", "create", "delete"]
        let methods = ["GET", "POST", "DELETE", "*"]
        let ruleGen = Gen.int(in: 0...99).array(of: 3)
        await propertyCheck(count: 200, input: ruleGen.array(of: 0...6), Gen.int(in: 0...99).array(of: 4)) { specs, request in
            var faults: [JSON] = []
            var limits: [JSON] = []
            var intercepts: [JSON] = []
            for (i, spec) in specs.enumerated() {
                let match: JSON = spec[0] % 3 == 0
                    ? ["httpMatch": [["method": .string(methods[spec[1] % methods.count]), "path": ["glob": .string(spec[2] % 2 == 0 ? "/api/*" : "/version*")]]]]
                    : ["resources": [["verbs": spec[1] % 2 == 0 ? [] : [.string(verbs[spec[1] % verbs.count])],
                                      "resources": spec[2] % 7 == 0 ? [] : [.string(resources[spec[2] % resources.count])]]]]
                switch spec[0] % 4 {
                case 0, 1: faults.append(["name": .string("f\(i)"), "match": match, "abort": ["httpStatus": 500]])
                case 2: limits.append(["name": .string("l\(i)"), "scope": "Pod", "match": match, "bucket": ["limit": 1, "interval": "1s"]])
                default: intercepts.append(["name": .string("i\(i)"), "interceptType": spec[1] % 5 == 0 ? "Whitelist" : "Blacklist",
                                            "methods": spec[2] % 3 == 0 ? ["POST"] : [], "match": match])
                }
            }
            var documents: [PolicyDocument] = []
            if !faults.isEmpty { documents.append(try! Policies.faultInjection(.array(faults))) }
            if !limits.isEmpty || !intercepts.isEmpty {
                documents.append(try! Policies.circuitBreaker(["rateLimitings": .array(limits), "trafficInterceptRules": .array(intercepts)]))
            }
            var engine = PolicyEngine()
            engine.load(documents, now: 0, wall: 0)
            let paths = ["/api/v1/namespaces/a/pods", "/api/v1/namespaces/a/configmaps/c", "/api/v1/namespaces/a/pods/p/status",
                         "/version", "/api/v1/secrets"]
            let method = ["GET", "POST", "DELETE", "PUT"][request[0] % 4]
            let facts = Policies.request(method, paths[request[1] % paths.count])
            let brute = documents.contains { document in
                document.faults.contains { $0.match.matches(facts) } || document.limits.contains { $0.match.matches(facts) }
                    || document.intercepts.contains { $0.covers(method: method) && ($0.kind == .allow || $0.match.matches(facts)) }
            }
            #expect(engine.concerns(facts) == brute, "\(method) \(facts.path)")
        }
    }
}
