import KubeModel

/// What one proxy did under one policy: the spec it applies and, per rule, its counters and
/// breaker state. Proxies send these to the manager, which writes them into the policy's
/// status (`targetStatus`, one entry per pod).
public struct PolicyReport: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var name: String
        /// Requests the rule matched (inside its time window).
        public var matched = 0
        public var delayed = 0
        public var aborted = 0
        public var watchFaults = 0
        /// Requests over the rule's limit (refused with 429, or held and then refused).
        public var limited = 0
        /// Requests refused because the breaker was open, or by an intercept rule.
        public var refused = 0
        /// `Closed`/`Opened` for limit rules.
        public var state: String?
        public var lastTransitionTime: String?
        /// How many times the breaker changed state since the proxy started.
        public var transitions = 0

        public init(name: String) { self.name = name }
    }

    public var key: String
    public var specHash: String
    public var rules: [Rule]

    public init(key: String, specHash: String, rules: [Rule]) {
        self.key = key
        self.specHash = specHash
        self.rules = rules
    }

    public var json: JSON {
        ["key": .string(key), "specHash": .string(specHash), "rules": .array(rules.map { rule in
            var out: JSON = ["name": .string(rule.name), "matched": .int(rule.matched), "delayed": .int(rule.delayed),
                             "aborted": .int(rule.aborted), "watchFaults": .int(rule.watchFaults), "limited": .int(rule.limited),
                             "refused": .int(rule.refused)]
            if let state = rule.state { out.setValue(.string(state), at: ["state"]) }
            if let time = rule.lastTransitionTime { out.setValue(.string(time), at: ["lastTransitionTime"]) }
            if rule.transitions > 0 { out.setValue(.int(rule.transitions), at: ["transitions"]) }
            return out
        })]
    }

    public init?(json: JSON) {
        guard let key = json["key"]?.stringValue, let hash = json["specHash"]?.stringValue else { return nil }
        self.key = key
        self.specHash = hash
        self.rules = (json["rules"]?.arrayValue ?? []).compactMap { item in
            guard let name = item["name"]?.stringValue else { return nil }
            var rule = Rule(name: name)
            func count(_ field: String) -> Int { Int(item[field]?.intValue ?? 0) }
            rule.matched = count("matched")
            rule.delayed = count("delayed")
            rule.aborted = count("aborted")
            rule.watchFaults = count("watchFaults")
            rule.limited = count("limited")
            rule.refused = count("refused")
            rule.state = item["state"]?.stringValue
            rule.lastTransitionTime = item["lastTransitionTime"]?.stringValue
            rule.transitions = max(0, count("transitions"))
            return rule
        }
    }
}
