import KubeModel

/// Reading the rules of FaultInjections and CircuitBreakers, in both API groups' shapes: our
/// `match` (resources with names, subresources and label selectors, plus HTTP matches) and
/// KusionStack's `match.resources`/`relatedResources`/`httpMatch`, its list of `{method,
/// url}`, `resourceRules`, `restRules` and intercept `contents`.
extension FieldReader {
    mutating func faultRules(_ value: JSON?, _ path: String) -> [FaultRule] {
        guard let items = array(value, path) else { return [] }
        if items.isEmpty { fail(path, "Required value: at least one fault") }
        var rules: [FaultRule] = []
        var names = Set<String>()
        for (i, element) in items.enumerated() {
            let at = "\(path)[\(i)]"
            guard let item = object(element, at, known: ["name", "match", "effectiveTime", "delay", "abort", "watch"]) else {
                fail(at, "Required value: a fault")
                continue
            }
            let name = string(item["name"], "\(at).name") ?? "fault-\(i)"
            if !names.insert(name).inserted { fail("\(at).name", "Duplicate value: \"\(name)\"") }
            let match = requestMatch(item["match"], "\(at).match")
            var rule = FaultRule(name: name, match: match)
            rule.window = window(item["effectiveTime"], "\(at).effectiveTime")
            if let delay = object(item["delay"], "\(at).delay", known: ["fixedDelay", "maxDelay", "percent"]) {
                let fixed = duration(delay["fixedDelay"], "\(at).delay.fixedDelay", required: true) ?? .zero
                let max = duration(delay["maxDelay"], "\(at).delay.maxDelay", required: false)
                if let max, max < fixed { fail("\(at).delay.maxDelay", "Invalid value: must not be less than fixedDelay") }
                rule.delay = DelayFault(min: fixed, max: max, percent: percent(delay["percent"], "\(at).delay.percent"))
            }
            if let abort = object(item["abort"], "\(at).abort", known: ["httpStatus", "percent", "message", "retryAfterSeconds"]) {
                let code = int(abort["httpStatus"], "\(at).abort.httpStatus") ?? 0
                if !(400...599).contains(code) { fail("\(at).abort.httpStatus", "Invalid value: \(code): must be an HTTP error status (400-599)") }
                let retry = int(abort["retryAfterSeconds"], "\(at).abort.retryAfterSeconds")
                let message = string(abort["message"], "\(at).abort.message") ?? "fault injected by the ctrlmesh proxy (rule \(name))"
                rule.abort = AbortFault(status: AbortFault.status(code: code, message: message, retryAfterSeconds: retry),
                                        percent: percent(abort["percent"], "\(at).abort.percent"))
            }
            if let watch = object(item["watch"], "\(at).watch", known: ["closeAfterEvents", "closeAfter", "eventDelay", "expire", "percent"]) {
                let fault = WatchFault(closeAfterEvents: int(watch["closeAfterEvents"], "\(at).watch.closeAfterEvents"),
                                       closeAfter: duration(watch["closeAfter"], "\(at).watch.closeAfter", required: false),
                                       eventDelay: duration(watch["eventDelay"], "\(at).watch.eventDelay", required: false),
                                       expire: bool(watch["expire"], "\(at).watch.expire") ?? false,
                                       percent: percent(watch["percent"], "\(at).watch.percent"))
                if fault.closeAfterEvents == nil, fault.closeAfter == nil, fault.eventDelay == nil {
                    fail("\(at).watch", "Required value: one of closeAfterEvents, closeAfter or eventDelay")
                }
                if let n = fault.closeAfterEvents, n < 0 { fail("\(at).watch.closeAfterEvents", "Invalid value: \(n): must not be negative") }
                rule.watch = fault
            }
            if rule.delay == nil, rule.abort == nil, rule.watch == nil {
                fail(at, "Required value: one of delay, abort or watch")
            }
            rules.append(rule)
        }
        return rules
    }

    mutating func limitRules(_ value: JSON?, _ path: String, defaultScope: LimitRule.Scope) -> [LimitRule] {
        guard let items = array(value, path) else { return [] }
        var rules: [LimitRule] = []
        var names = Set<String>()
        for (i, element) in items.enumerated() {
            let at = "\(path)[\(i)]"
            guard let item = object(element, at, known: ["name", "match", "resourceRules", "restRules", "bucket", "maxInFlight",
                                                         "triggerPolicy", "recoverPolicy", "scope", "overLimit"]) else {
                fail(at, "Required value: a rule")
                continue
            }
            guard let name = string(item["name"], "\(at).name"), !name.isEmpty else {
                fail("\(at).name", "Required value")
                continue
            }
            if !names.insert(name).inserted { fail("\(at).name", "Duplicate value: \"\(name)\"") }
            var match = requestMatch(item["match"], "\(at).match", allowEmpty: true)
            match.resources += resourceMatches(item["resourceRules"], "\(at).resourceRules")
            match.http += restMatches(item["restRules"], "\(at).restRules")
            if match.isEmpty { fail(at, "Required value: one of match, resourceRules or restRules") }
            var rule = LimitRule(name: name, match: match, scope: defaultScope)
            if let bucket = object(item["bucket"], "\(at).bucket", known: ["limit", "burst", "interval"]) {
                let limit = int(bucket["limit"], "\(at).bucket.limit") ?? 0
                let burst = int(bucket["burst"], "\(at).bucket.burst") ?? max(limit, 1)
                let interval = duration(bucket["interval"], "\(at).bucket.interval", required: true) ?? .seconds(1)
                if limit < 1 { fail("\(at).bucket.limit", "Invalid value: \(limit): must be at least 1") }
                if burst < 1 { fail("\(at).bucket.burst", "Invalid value: \(burst): must be at least 1") }
                if interval <= .zero { fail("\(at).bucket.interval", "Invalid value: must be positive") }
                rule.bucket = LimitRule.Bucket(limit: limit, burst: burst, interval: interval)
            }
            rule.maxInFlight = int(item["maxInFlight"], "\(at).maxInFlight")
            if let n = rule.maxInFlight, n < 1 { fail("\(at).maxInFlight", "Invalid value: \(n): must be at least 1") }
            if let text = string(item["triggerPolicy"], "\(at).triggerPolicy") {
                if let trigger = LimitRule.Trigger(rawValue: text) { rule.trigger = trigger } else {
                    fail("\(at).triggerPolicy", "Unsupported value: \"\(text)\": supported values: \"Normal\", \"LimiterOnly\", \"ForceOpened\", \"ForceClosed\"")
                }
            }
            if let recover = object(item["recoverPolicy"], "\(at).recoverPolicy", known: ["type", "sleepingWindowSize"]) {
                switch string(recover["type"], "\(at).recoverPolicy.type") ?? "Manual" {
                case "Manual": rule.recovery = .manual
                case "SleepingWindow":
                    rule.recovery = .sleepingWindow(duration(recover["sleepingWindowSize"], "\(at).recoverPolicy.sleepingWindowSize", required: true) ?? .zero)
                case let other: fail("\(at).recoverPolicy.type", "Unsupported value: \"\(other)\": supported values: \"Manual\", \"SleepingWindow\"")
                }
            }
            if let text = string(item["scope"], "\(at).scope") {
                if let scope = LimitRule.Scope(rawValue: text) { rule.scope = scope } else {
                    fail("\(at).scope", "Unsupported value: \"\(text)\": supported values: \"Operator\", \"Pod\"")
                }
            }
            if let over = object(item["overLimit"], "\(at).overLimit", known: ["action", "maxWait", "maxQueued"]) {
                switch string(over["action"], "\(at).overLimit.action") ?? "Reject" {
                case "Reject": rule.overLimit = .reject
                case "Wait":
                    let wait = duration(over["maxWait"], "\(at).overLimit.maxWait", required: false) ?? .seconds(30)
                    rule.overLimit = .wait(maxWait: wait, maxQueued: int(over["maxQueued"], "\(at).overLimit.maxQueued") ?? 100)
                case let other: fail("\(at).overLimit.action", "Unsupported value: \"\(other)\": supported values: \"Reject\", \"Wait\"")
                }
            }
            let limited = rule.bucket != nil || rule.maxInFlight != nil
            if !limited, rule.trigger != .forceOpened, rule.trigger != .forceClosed {
                fail(at, "Required value: bucket or maxInFlight (or triggerPolicy ForceOpened)")
            }
            if rule.scope == .wholeOperator, rule.maxInFlight != nil {
                fail("\(at).maxInFlight", "Invalid value: in-flight limits are kept by each proxy; use scope Pod")
            }
            rules.append(rule)
        }
        return rules
    }

    mutating func interceptRules(_ value: JSON?, _ path: String) -> [InterceptRule] {
        guard let items = array(value, path) else { return [] }
        var rules: [InterceptRule] = []
        for (i, element) in items.enumerated() {
            let at = "\(path)[\(i)]"
            guard let item = object(element, at, known: ["name", "interceptType", "match", "contentType", "contents", "methods"]) else {
                fail(at, "Required value: a rule")
                continue
            }
            let name = string(item["name"], "\(at).name") ?? "intercept-\(i)"
            let typeText = string(item["interceptType"], "\(at).interceptType") ?? "Blacklist"
            guard let kind = InterceptRule.Kind(rawValue: typeText) else {
                fail("\(at).interceptType", "Unsupported value: \"\(typeText)\": supported values: \"Whitelist\", \"Blacklist\"")
                continue
            }
            var match = requestMatch(item["match"], "\(at).match", allowEmpty: true)
            let contentType = string(item["contentType"], "\(at).contentType") ?? "Normal"
            if contentType != "Normal", contentType != "Regexp" {
                fail("\(at).contentType", "Unsupported value: \"\(contentType)\": supported values: \"Normal\", \"Regexp\"")
            }
            let regexp = contentType == "Regexp"
            for (j, content) in strings(item["contents"], "\(at).contents").enumerated() {
                if regexp {
                    guard let pattern = try? RegexPattern(content) else {
                        fail("\(at).contents[\(j)]", "Invalid value: \"\(content)\": not a valid regular expression")
                        continue
                    }
                    match.http.append(HTTPMatch(url: .regex(pattern)))
                } else {
                    match.http.append(HTTPMatch(url: .glob(Glob(content))))
                }
            }
            if match.isEmpty { fail(at, "Required value: match or contents") }
            rules.append(InterceptRule(name: name, kind: kind, match: match, methods: strings(item["methods"], "\(at).methods")))
        }
        return rules
    }

    // MARK: Matches

    /// `match` as an object (`resources`, `relatedResources`, `httpMatch`) or as KusionStack's
    /// list of `{method, url}`.
    mutating func requestMatch(_ value: JSON?, _ path: String, allowEmpty: Bool = false) -> RequestMatch {
        var match = RequestMatch()
        guard let value, !value.isNull else {
            if !allowEmpty { fail(path, "Required value") }
            return match
        }
        if value.arrayValue != nil {
            match.http = restMatches(value, path)
        } else {
            object(value, path, known: ["resources", "relatedResources", "httpMatch"])
            match.resources = resourceMatches(value["resources"], "\(path).resources")
                + resourceMatches(value["relatedResources"], "\(path).relatedResources")
            match.http = httpMatches(value["httpMatch"], "\(path).httpMatch")
        }
        if match.isEmpty, !allowEmpty { fail(path, "Required value: resources or httpMatch") }
        return match
    }

    mutating func resourceMatches(_ value: JSON?, _ path: String) -> [ResourceMatch] {
        objects(value, path, known: ["verbs", "apiGroups", "resources", "subresources", "namespaces", "names", "labelSelector"]).map { at, item in
            var labelSelector: LabelSelector?
            if let selector = item["labelSelector"], !selector.isNull {
                labelSelector = self.selector(selector, "\(at).labelSelector", required: false)
            }
            return ResourceMatch(verbs: strings(item["verbs"], "\(at).verbs").map { $0.lowercased() },
                                 apiGroups: strings(item["apiGroups"], "\(at).apiGroups"),
                                 resources: strings(item["resources"], "\(at).resources"),
                                 subresources: strings(item["subresources"], "\(at).subresources"),
                                 namespaces: strings(item["namespaces"], "\(at).namespaces").map(Glob.init),
                                 names: strings(item["names"], "\(at).names").map(Glob.init),
                                 labelSelector: labelSelector)
        }
    }

    /// KusionStack's `{method, url}` REST rules; the URL may hold `*` wildcards.
    mutating func restMatches(_ value: JSON?, _ path: String) -> [HTTPMatch] {
        objects(value, path, known: ["method", "url", "path"]).map { at, item in
            let url = string(item["url"], "\(at).url")
            let pathText = string(item["path"], "\(at).path")
            if url == nil, pathText == nil { fail("\(at).url", "Required value") }
            var match = HTTPMatch(method: string(item["method"], "\(at).method"), url: url.map { .glob(Glob($0)) })
            if let pathText { match.path = .glob(Glob(pathText)) }
            return match
        }
    }

    mutating func httpMatches(_ value: JSON?, _ path: String) -> [HTTPMatch] {
        objects(value, path, known: ["method", "path", "host", "url", "headers"]).map { at, item in
            // A rule narrowed by headers would, with them ignored, apply to every request.
            unsupported(item["headers"], "\(at).headers", "matching on headers is not implemented")
            return HTTPMatch(method: string(item["method"], "\(at).method"), path: textMatch(item["path"], "\(at).path"),
                             host: textMatch(item["host"], "\(at).host"), url: textMatch(item["url"], "\(at).url"))
        }
    }

    /// `{exact}`, `{regex}` or `{glob}`; a bare string is a glob.
    mutating func textMatch(_ value: JSON?, _ path: String) -> TextMatch? {
        guard let value, !value.isNull else { return nil }
        if let text = value.stringValue { return .glob(Glob(text)) }
        guard let value = object(value, path, known: ["exact", "glob", "regex"]) else { return nil }
        if value.objectValue?.count ?? 0 > 1 { fail(path, "Invalid value: give one of exact, glob or regex") }
        if let exact = string(value["exact"], "\(path).exact") { return .exact(exact) }
        if let glob = string(value["glob"], "\(path).glob") { return .glob(Glob(glob)) }
        if let regex = string(value["regex"], "\(path).regex") {
            if let pattern = try? RegexPattern(regex) { return .regex(pattern) }
            fail("\(path).regex", "Invalid value: \"\(regex)\": not a valid regular expression")
            return nil
        }
        fail(path, "Required value: one of exact, glob or regex")
        return nil
    }

    // MARK: Values

    /// A Go duration string (`5s`, `1m30s`, `250ms`).
    mutating func duration(_ value: JSON?, _ path: String, required: Bool) -> Duration? {
        guard let value, !value.isNull else {
            if required { fail(path, "Required value") }
            return nil
        }
        guard let text = value.stringValue, let duration = DurationText.parse(text) else {
            fail(path, "Invalid value: must be a duration such as 500ms, 5s or 1m")
            return nil
        }
        return duration
    }

    /// A percentage from 0 to 100, as a number or (KusionStack) a string; absent means 100.
    mutating func percent(_ value: JSON?, _ path: String) -> Double {
        guard let value, !value.isNull else { return 100 }
        guard let number = value.doubleValue ?? value.stringValue.flatMap({ Double($0) }), (0...100).contains(number) else {
            fail(path, "Invalid value: must be a percentage from 0 to 100")
            return 0
        }
        return number
    }

    mutating func window(_ value: JSON?, _ path: String) -> TimeWindow? {
        guard let value = object(value, path, known: ["startTime", "endTime", "daysOfWeek", "daysOfMonth", "months"]) else { return nil }
        var window = TimeWindow()
        for (field, keyPath) in [("startTime", \TimeWindow.start), ("endTime", \TimeWindow.end)] {
            guard let text = string(value[field], "\(path).\(field)") else { continue }
            if let bound = TimeWindow.bound(text) { window[keyPath: keyPath] = bound } else {
                fail("\(path).\(field)", "Invalid value: \"\(text)\": must be HH:MM[:SS] or an RFC 3339 time")
            }
        }
        window.daysOfWeek = days(value["daysOfWeek"], "\(path).daysOfWeek", 0...6)
        window.daysOfMonth = days(value["daysOfMonth"], "\(path).daysOfMonth", 1...31)
        window.months = days(value["months"], "\(path).months", 1...12)
        return window
    }

    mutating func days(_ value: JSON?, _ path: String, _ range: ClosedRange<Int>) -> Set<Int> {
        guard let items = array(value, path) else { return [] }
        var out = Set<Int>()
        for (i, item) in items.enumerated() {
            guard let number = item.intValue, range.contains(Int(number)) else {
                fail("\(path)[\(i)]", "Invalid value: must be an integer from \(range.lowerBound) to \(range.upperBound)")
                continue
            }
            out.insert(Int(number))
        }
        return out
    }
}
