/// Which rules could match a request, by the two things every request has: its resource (for
/// resource requests) and its HTTP method. The proxy asks the index for every request it
/// serves, so that a request no rule names costs two dictionary lookups, however many rules
/// are loaded; only the candidates are matched in full.
struct RuleIndex: Sendable {
    /// Positions of rules in the engine's fault, limit and intercept lists.
    struct Candidates: Sendable {
        var faults: [Int] = []
        var limits: [Int] = []
        var intercepts: [Int] = []

        var isEmpty: Bool { faults.isEmpty && limits.isEmpty && intercepts.isEmpty }
    }

    enum Kind { case fault, limit, intercept }

    var byResource: [String: Candidates] = [:]
    /// Rules with a resource match that names no resource or `*`.
    var anyResource = Candidates()
    var byMethod: [String: Candidates] = [:]
    /// Rules with an HTTP match for any method.
    var anyMethod = Candidates()
    /// The allow-list rules: every request with a method one of them covers concerns the
    /// engine, matched or not.
    var allowRules: [InterceptRule] = []

    init() {}

    init(faults: [RequestMatch], limits: [RequestMatch], intercepts: [InterceptRule]) {
        for (i, match) in faults.enumerated() { add(match, .fault, i) }
        for (i, match) in limits.enumerated() { add(match, .limit, i) }
        for (i, rule) in intercepts.enumerated() {
            add(rule.match, .intercept, i)
            if rule.kind == .allow { allowRules.append(rule) }
        }
    }

    mutating func add(_ match: RequestMatch, _ kind: Kind, _ index: Int) {
        for resource in match.resources {
            let names = resource.resourceEntries.map(\.resource)
            if names.isEmpty || names.contains("*") {
                RuleIndex.append(&anyResource, kind, index)
            } else {
                for name in Set(names) { RuleIndex.append(&byResource[name, default: Candidates()], kind, index) }
            }
        }
        for http in match.http {
            if let method = http.method?.uppercased(), !method.isEmpty, method != "*" {
                RuleIndex.append(&byMethod[method, default: Candidates()], kind, index)
            } else {
                RuleIndex.append(&anyMethod, kind, index)
            }
        }
    }

    static func append(_ candidates: inout Candidates, _ kind: Kind, _ index: Int) {
        switch kind {
        case .fault: if candidates.faults.last != index { candidates.faults.append(index) }
        case .limit: if candidates.limits.last != index { candidates.limits.append(index) }
        case .intercept: if candidates.intercepts.last != index { candidates.intercepts.append(index) }
        }
    }

    /// The candidate groups for a request (each may hold a rule more than once across groups).
    func candidates(_ facts: RequestFacts) -> [Candidates] {
        var out: [Candidates] = []
        if let info = facts.info {
            if let named = byResource[info.resource] { out.append(named) }
            if !anyResource.isEmpty { out.append(anyResource) }
        }
        if let method = byMethod[facts.method] { out.append(method) }
        if !anyMethod.isEmpty { out.append(anyMethod) }
        return out
    }

    func allowListCovers(method: String) -> Bool {
        allowRules.contains { $0.covers(method: method) }
    }
}
