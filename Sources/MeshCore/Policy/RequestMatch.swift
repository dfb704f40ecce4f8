import KubeModel

/// Text matched exactly, as a glob, or as a regular expression.
public enum TextMatch: Sendable, Equatable {
    case exact(String)
    case glob(Glob)
    case regex(RegexPattern)

    public func matches(_ text: String) -> Bool {
        switch self {
        case .exact(let value): value == text
        case .glob(let glob): glob.matches(text)
        case .regex(let pattern): pattern.matches(text)
        }
    }
}

/// Resource requests a rule applies to. Each list is a union of values and empty or `*`
/// means any; the lists are ANDed. `resources` entries may name a subresource
/// (`pods/status`, `*/scale`); a plain resource matches only requests without one, unless
/// `subresources` lists it.
public struct ResourceMatch: Sendable, Equatable {
    public let verbs: [String]
    public let apiGroups: [String]
    public let resources: [String]
    public let subresources: [String]
    /// Globs over the namespace; a cluster-scoped request matches only an empty list or `*`.
    public let namespaces: [Glob]
    /// Globs over the object's name; a request without a name (lists, creates with
    /// generateName) matches only an empty list or `*`.
    public let names: [Glob]
    /// Matched against the labels in the request body (creates, updates); a request without
    /// labels in its body does not match a selector.
    public let labelSelector: LabelSelector?
    /// `resources` split once into resource and subresource, lowercased: matching runs for
    /// every request the proxy serves, so it allocates nothing.
    let resourceEntries: [(resource: String, subresource: String?)]

    public init(verbs: [String] = [], apiGroups: [String] = [], resources: [String] = [], subresources: [String] = [],
                namespaces: [Glob] = [], names: [Glob] = [], labelSelector: LabelSelector? = nil) {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.subresources = subresources
        self.namespaces = namespaces
        self.names = names
        self.labelSelector = labelSelector
        self.resourceEntries = resources.map { entry in
            let parts = entry.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
            return (parts.first ?? "", parts.count == 2 ? parts[1] : nil)
        }
    }

    public static func == (a: ResourceMatch, b: ResourceMatch) -> Bool {
        a.verbs == b.verbs && a.apiGroups == b.apiGroups && a.resources == b.resources && a.subresources == b.subresources
            && a.namespaces == b.namespaces && a.names == b.names && a.labelSelector == b.labelSelector
    }

    static func any(_ values: [String], _ value: String) -> Bool {
        values.isEmpty || values.contains("*") || values.contains(value)
    }

    static func anyGlob(_ globs: [Glob], _ value: String?) -> Bool {
        if globs.isEmpty || globs.contains(where: { $0.pattern == "*" }) { return true }
        guard let value else { return false }
        return globs.contains { $0.matches(value) }
    }

    public func matches(_ facts: RequestFacts) -> Bool {
        guard let info = facts.info else { return false }
        guard ResourceMatch.any(verbs, info.verb.rawValue), ResourceMatch.any(apiGroups, info.group) else { return false }
        guard matchesResource(info.resource, subresource: info.subresource) else { return false }
        guard ResourceMatch.anyGlob(namespaces, info.namespace), ResourceMatch.anyGlob(names, facts.name) else { return false }
        if let labelSelector {
            guard let labels = facts.labels, labelSelector.matches(labels) else { return false }
        }
        return true
    }

    func matchesResource(_ resource: String, subresource: String?) -> Bool {
        if resourceEntries.isEmpty { return subresource == nil || ResourceMatch.any(subresources, subresource!) }
        for entry in resourceEntries where entry.resource == "*" || entry.resource == resource {
            if let named = entry.subresource {
                if let subresource, named == "*" || named == subresource { return true }
            } else if let subresource {
                if !subresources.isEmpty, ResourceMatch.any(subresources, subresource) { return true }
            } else {
                return true
            }
        }
        return false
    }
}

/// Plain HTTP requests a rule applies to: method, path, host or whole URL.
public struct HTTPMatch: Sendable, Equatable {
    public var method: String?
    public var path: TextMatch?
    public var host: TextMatch?
    /// KusionStack's `url` (`scheme://host/path`, with `*` wildcards).
    public var url: TextMatch?

    public init(method: String? = nil, path: TextMatch? = nil, host: TextMatch? = nil, url: TextMatch? = nil) {
        self.method = method
        self.path = path
        self.host = host
        self.url = url
    }

    public func matches(_ facts: RequestFacts) -> Bool {
        if let method, !method.isEmpty, method != "*", method.uppercased() != facts.method { return false }
        if let path, !path.matches(facts.path) { return false }
        if let host, !host.matches(HTTPMatch.host(of: facts.upstream)) { return false }
        if let url, !url.matches(facts.url) { return false }
        return true
    }

    /// `host[:port]` of `scheme://host[:port]`.
    static func host(of upstream: String) -> String {
        guard let range = upstream.range(of: "://") else { return upstream }
        return String(upstream[range.upperBound...])
    }
}

/// A rule's match: any of its resource matches or any of its HTTP matches. Resource requests
/// can be matched either way; discovery and other non-resource paths only by HTTP matches.
public struct RequestMatch: Sendable, Equatable {
    public var resources: [ResourceMatch]
    public var http: [HTTPMatch]

    public init(resources: [ResourceMatch] = [], http: [HTTPMatch] = []) {
        self.resources = resources
        self.http = http
    }

    public var isEmpty: Bool { resources.isEmpty && http.isEmpty }

    /// Whether matching needs the request body's name or labels.
    public var readsBody: Bool {
        resources.contains { $0.labelSelector != nil || !($0.names.isEmpty || $0.names.contains { $0.pattern == "*" }) }
    }

    public func matches(_ facts: RequestFacts) -> Bool {
        resources.contains { $0.matches(facts) } || http.contains { $0.matches(facts) }
    }
}
