import KubeModel

/// One rate-limiting rule of a CircuitBreaker: a token bucket and/or a bound on requests in
/// flight, over the requests it matches, with what happens past the limit.
public struct LimitRule: Sendable, Equatable {
    /// `limit` tokens every `interval`, at most `burst` saved up.
    public struct Bucket: Sendable, Equatable {
        public var limit: Int
        public var burst: Int
        public var interval: Duration

        public init(limit: Int, burst: Int, interval: Duration) {
            self.limit = limit
            self.burst = burst
            self.interval = interval
        }

        public var ratePerSecond: Double { Double(limit) / interval.seconds }
    }

    /// KusionStack's trigger policies.
    public enum Trigger: String, Sendable, Equatable {
        /// Over the limit opens the breaker: every matched request is then refused until it
        /// recovers.
        case normal = "Normal"
        /// Over the limit refuses that request only.
        case limiterOnly = "LimiterOnly"
        /// Refuse every matched request.
        case forceOpened = "ForceOpened"
        /// Let everything through: the rule is switched off.
        case forceClosed = "ForceClosed"
    }

    public enum Recovery: Sendable, Equatable {
        /// Close again once the window has passed since it opened.
        case sleepingWindow(Duration)
        /// Stay open until reset (`ctrlmesh breaker reset`, or the reset annotation).
        case manual
    }

    /// Who shares the bucket.
    public enum Scope: String, Sendable, Equatable {
        /// Each proxy has its own bucket (KusionStack's meaning).
        case pod = "Pod"
        /// One bucket for every proxy the CircuitBreaker selects — all shards of the
        /// operator — kept by the mesh manager.
        case wholeOperator = "Operator"
    }

    /// Past the limit: refuse with 429 and Retry-After, or hold the request until a token
    /// comes, up to `maxWait` and with at most `maxQueued` waiting.
    public enum OverLimit: Sendable, Equatable {
        case reject
        case wait(maxWait: Duration, maxQueued: Int)
    }

    public var name: String
    public var match: RequestMatch
    public var bucket: Bucket?
    public var maxInFlight: Int?
    public var trigger: Trigger
    public var recovery: Recovery
    public var scope: Scope
    public var overLimit: OverLimit

    public init(name: String, match: RequestMatch, bucket: Bucket? = nil, maxInFlight: Int? = nil, trigger: Trigger = .limiterOnly,
                recovery: Recovery = .manual, scope: Scope = .pod, overLimit: OverLimit = .reject) {
        self.name = name
        self.match = match
        self.bucket = bucket
        self.maxInFlight = maxInFlight
        self.trigger = trigger
        self.recovery = recovery
        self.scope = scope
        self.overLimit = overLimit
    }
}

/// A traffic-intercept rule: deny what it matches (KusionStack's `Blacklist`), or allow only
/// what it matches (`Whitelist`) among requests with its methods.
public struct InterceptRule: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case deny = "Blacklist"
        case allow = "Whitelist"
    }

    public var name: String
    public var kind: Kind
    public var match: RequestMatch
    /// HTTP methods the rule is about (empty: all).
    public var methods: [String]

    public init(name: String, kind: Kind, match: RequestMatch, methods: [String] = []) {
        self.name = name
        self.kind = kind
        self.match = match
        self.methods = methods
    }

    public func covers(method: String) -> Bool {
        methods.isEmpty || methods.contains("*") || methods.contains { $0.uppercased() == method }
    }
}
