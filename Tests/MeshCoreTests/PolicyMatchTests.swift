import KubeModel
import MeshCore
import PropertyBased
import Testing

@Suite struct GlobTests {
    /// A slow, obviously right matcher to check the fast one against.
    static func reference(_ pattern: Substring, _ text: Substring) -> Bool {
        guard let p = pattern.first else { return text.isEmpty }
        if p == "*" {
            return reference(pattern.dropFirst(), text) || (!text.isEmpty && reference(pattern, text.dropFirst()))
        }
        guard let t = text.first, p == "?" || p == t else { return false }
        return reference(pattern.dropFirst(), text.dropFirst())
    }

    @Test func agreesWithTheReferenceMatcher() async {
        let patternChars = Gen.int(in: 0...3).map { Array("ab*?")[$0] }
        let textChars = Gen.int(in: 0...1).map { Array("ab")[$0] }
        await propertyCheck(count: 600, input: patternChars.array(of: 0...7), textChars.array(of: 0...9)) { pattern, text in
            let p = String(pattern), t = String(text)
            #expect(Glob(p).matches(t) == GlobTests.reference(p[...], t[...]), "\(p) ~ \(t)")
        }
    }

    @Test func literalsMatchOnlyThemselves() async {
        await propertyCheck(count: 300, input: Gen.letterOrNumber.string(of: 0...12), Gen.letterOrNumber.string(of: 0...12)) { a, b in
            #expect(Glob(a).matches(b) == (a == b))
            #expect(Glob("*").matches(b))
            #expect(Glob(a + "*").matches(a + b))
            #expect(Glob("*" + a).matches(b + a))
        }
    }
}

@Suite struct DurationTextTests {
    @Test func readsGoDurations() {
        #expect(DurationText.parse("1m30s") == .seconds(90))
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("1.5h") == .seconds(5400))
        #expect(DurationText.parse("0") == .zero)
        for bad in ["", "5", "-1s", "1d", "s", "1m30"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
    }

    /// Any sum of hours, minutes, seconds and milliseconds, written as Go writes it, reads back.
    @Test func composedDurationsReadBack() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...99).array(of: 4)) { parts in
            let text = "\(parts[0])h\(parts[1])m\(parts[2])s\(parts[3])ms"
            let expected = Duration.seconds(parts[0] * 3600 + parts[1] * 60 + parts[2]) + .milliseconds(parts[3])
            #expect(DurationText.parse(text) == expected, "\(text)")
        }
    }
}

@Suite struct TimeWindowTests {
    @Test func calendarFieldsMatchGmtime() async {
        await propertyCheck(count: 300, input: Gen.int(in: -2_000_000_000...4_000_000_000)) { seconds in
            // RFC 3339 text from the model's formatter (gmtime) gives the reference fields.
            let text = Timestamp.format(seconds: Int64(seconds))
            let parts = text.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int($0) }
            let secondOfDay = parts[3] * 3600 + parts[4] * 60 + parts[5]
            var window = TimeWindow(start: .timeOfDay(secondOfDay), end: .timeOfDay(secondOfDay + 1 > 86399 ? 0 : secondOfDay + 1))
            window.months = [parts[1]]
            window.daysOfMonth = [parts[2]]
            #expect(window.contains(Double(seconds)), "\(text)")
            window.months = [parts[1] % 12 + 1]
            #expect(!window.contains(Double(seconds)), "\(text)")
        }
    }

    @Test func timesOfDayWrapMidnightAndDaysFilter() throws {
        // 2026-11-22 was a Sunday.
        let sunday2330 = try #require(Timestamp.parse("2026-11-22T23:30:00Z")).timeIntervalSince1970
        let night = TimeWindow(start: TimeWindow.bound("22:00"), end: TimeWindow.bound("02:00"))
        #expect(night.contains(sunday2330))
        #expect(night.contains(sunday2330 + 7200))  // 01:30 on Monday
        #expect(!night.contains(sunday2330 + 4 * 3600))  // 03:30
        #expect(TimeWindow(daysOfWeek: [0]).contains(sunday2330))
        #expect(!TimeWindow(daysOfWeek: [1]).contains(sunday2330))
        let instants = TimeWindow(start: TimeWindow.bound("2026-11-22T23:00:00Z"), end: TimeWindow.bound("2026-11-23T00:00:00Z"))
        #expect(instants.contains(sunday2330))
        #expect(!instants.contains(sunday2330 + 1800))
        #expect(TimeWindow.bound("24:00") == nil && TimeWindow.bound("yesterday") == nil)
    }
}

@Suite struct RequestMatchTests {
    static func facts(_ method: String, _ path: String, query: String = "", name: String? = nil, labels: [String: String]? = nil) -> RequestFacts {
        let info = RequestInfo.classify(method: method, target: query.isEmpty ? path : path + "?" + query)
        return RequestFacts(method: method, path: path, upstream: "https://10.0.0.1:6443", info: info, name: name, labels: labels)
    }

    @Test func resourceMatchesEachField() {
        let createPod = RequestMatchTests.facts("POST", "/api/v1/namespaces/team-a/pods", name: "web-1", labels: ["app": "web"])
        #expect(ResourceMatch(verbs: ["create"], apiGroups: [""], resources: ["pods"]).matches(createPod))
        #expect(!ResourceMatch(verbs: ["delete"], resources: ["pods"]).matches(createPod))
        #expect(!ResourceMatch(apiGroups: ["apps"], resources: ["pods"]).matches(createPod))
        #expect(ResourceMatch(resources: ["*"], namespaces: [Glob("team-*")]).matches(createPod))
        #expect(!ResourceMatch(namespaces: [Glob("team-b")]).matches(createPod))
        #expect(ResourceMatch(names: [Glob("web-?")]).matches(createPod))
        #expect(!ResourceMatch(names: [Glob("db-*")]).matches(createPod))
        #expect(ResourceMatch(labelSelector: try! LabelSelector(parsing: "app=web")).matches(createPod))
        #expect(!ResourceMatch(labelSelector: try! LabelSelector(parsing: "app=db")).matches(createPod))
        // A list has no name and no body labels: only "any" matches them.
        let list = RequestMatchTests.facts("GET", "/api/v1/namespaces/team-a/pods")
        #expect(!ResourceMatch(names: [Glob("web-*")]).matches(list))
        #expect(!ResourceMatch(labelSelector: try! LabelSelector(parsing: "app=web")).matches(list))
        #expect(ResourceMatch(verbs: ["list"], names: [Glob("*")]).matches(list))
    }

    @Test func subresourcesAreMatchedOnlyWhenNamed() {
        let status = RequestMatchTests.facts("PUT", "/api/v1/namespaces/a/pods/p/status")
        #expect(!ResourceMatch(resources: ["pods"]).matches(status))
        #expect(ResourceMatch(resources: ["pods/status"]).matches(status))
        #expect(ResourceMatch(resources: ["*/status"]).matches(status))
        #expect(ResourceMatch(resources: ["pods"], subresources: ["status"]).matches(status))
        #expect(!ResourceMatch(resources: ["pods/status"]).matches(RequestMatchTests.facts("PUT", "/api/v1/namespaces/a/pods/p")))
    }

    @Test func httpMatchesMethodPathHostAndURL() throws {
        let discovery = RequestMatchTests.facts("GET", "/apis")
        #expect(discovery.info == nil)
        #expect(!RequestMatch(resources: [ResourceMatch()]).matches(discovery))
        #expect(HTTPMatch(method: "GET", path: .exact("/apis")).matches(discovery))
        #expect(!HTTPMatch(method: "POST", path: .exact("/apis")).matches(discovery))
        #expect(HTTPMatch(host: .glob(Glob("10.0.0.*"))).matches(discovery))
        #expect(HTTPMatch(url: .glob(Glob("https://*/apis"))).matches(discovery))
        #expect(HTTPMatch(path: .regex(try RegexPattern("^/api(s)?$"))).matches(discovery))
        #expect(!HTTPMatch(path: .regex(try RegexPattern("^/api$"))).matches(discovery))
    }
}
