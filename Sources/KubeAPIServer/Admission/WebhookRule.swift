import KubeModel

/// Whether one webhook of a Mutating/ValidatingWebhookConfiguration applies to a request:
/// its rules (operations, groups, versions, resources with subresources, scope), namespace
/// selector and object selector.
struct WebhookMatcher {
    let webhook: JSON

    func matchesRules(_ a: AdmissionAttributes) -> Bool {
        for rule in webhook["rules"]?.arrayValue ?? [] {
            let ops = strings(rule["operations"])
            let groups = strings(rule["apiGroups"])
            let versions = strings(rule["apiVersions"])
            let resources = strings(rule["resources"])
            let scope = rule["scope"]?.stringValue ?? "*"
            guard ops.contains("*") || ops.contains(a.operation.rawValue) else { continue }
            guard groups.contains("*") || groups.contains(a.resource.group) else { continue }
            guard versions.contains("*") || versions.contains(a.resource.version) else { continue }
            guard resources.contains(where: { Self.resourcePattern($0, matches: a.resource.plural, a.subresource) }) else { continue }
            switch scope {
            case "Cluster": if a.resource.namespaced { continue }
            case "Namespaced": if !a.resource.namespaced { continue }
            default: break
            }
            return true
        }
        return false
    }

    /// `pods`, `pods/status`, `pods/*`, `*`, `*/status`, `*/*`.
    static func resourcePattern(_ pattern: String, matches resource: String, _ subresource: String?) -> Bool {
        let parts = pattern.split(separator: "/", maxSplits: 1).map(String.init)
        let resourcePart = parts.first ?? ""
        let subPart = parts.count > 1 ? parts[1] : nil
        guard resourcePart == "*" || resourcePart == resource else { return false }
        switch (subPart, subresource) {
        case (nil, nil): return true
        case (nil, _?): return false
        case ("*"?, _): return true
        case (let p?, let s?): return p == s
        case (_?, nil): return false
        }
    }

    func strings(_ value: JSON?) -> [String] {
        value?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    func matchesSelectors(namespaceLabels: [String: String]?, object: JSON?, old: JSON?) throws(StatusError) -> Bool {
        do {
            if let namespaceLabels {
                let selector = try LabelSelector(object: webhook["namespaceSelector"])
                if !selector.matches(namespaceLabels) { return false }
            }
            let objectSelector = try LabelSelector(object: webhook["objectSelector"])
            if objectSelector.isEverything { return true }
            return [object, old].compactMap { $0 }.contains { objectSelector.matches($0.labels) }
        } catch {
            throw StatusError.internalError("webhook \(webhook["name"]?.stringValue ?? "") has an invalid selector: \(error)")
        }
    }
}
