import KubeModel

/// A FaultInjection or CircuitBreaker, of either API group, parsed and validated once: the
/// manager reads it to pick the pods it applies to, and sends the object to those pods'
/// proxies, which parse it the same way.
public struct PolicyDocument: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case faultInjection = "FaultInjection"
        case circuitBreaker = "CircuitBreaker"

        public var plural: String { self == .faultInjection ? "faultinjections" : "circuitbreakers" }
    }

    public var kind: Kind
    public var group: String
    public var namespace: String
    public var name: String
    /// The operator pods (in `namespace`) it applies to.
    public var selector: LabelSelector
    public var disabled: Bool
    /// Makes every percentage draw reproducible (nil: a fresh random sequence per proxy).
    public var seed: UInt64?
    public var faults: [FaultRule]
    public var limits: [LimitRule]
    public var intercepts: [InterceptRule]
    /// FNV-1a 64 of the spec, in hex: which version of the rules a proxy applies.
    public var specHash: String
    /// The value of the reset annotation: a change closes every open breaker of the policy.
    public var resetToken: String?

    /// `ctrlmesh.kruise.io/reset-breaker` on a CircuitBreaker: `ctrlmesh breaker reset` sets
    /// it to the current time.
    public static let resetAnnotation = "ctrlmesh.kruise.io/reset-breaker"

    /// The four collections: both kinds in both API groups.
    public static let resources: [GroupVersionResource] = [MeshConfig.group, MeshConfig.kusionGroup].flatMap { group in
        Kind.allCases.map { GroupVersionResource(group: group, version: "v1alpha1", resource: $0.plural) }
    }

    public static func resource(group: String, kind: Kind) -> GroupVersionResource {
        GroupVersionResource(group: group, version: "v1alpha1", resource: kind.plural)
    }

    public var resource: GroupVersionResource { PolicyDocument.resource(group: group, kind: kind) }

    /// `group/Kind/namespace/name`: unique across kinds and groups.
    public var key: String { PolicyDocument.key(group: group, kind: kind.rawValue, namespace: namespace, name: name) }

    /// The key of a policy object, valid or not (the manager reports invalid ones by it too).
    public static func key(group: String, kind: String, namespace: String, name: String) -> String {
        "\(group)/\(kind)/\(namespace)/\(name)"
    }

    public init(object: JSON) throws(FieldErrors) {
        let apiVersion = object["apiVersion"]?.stringValue ?? ""
        let group = apiVersion.split(separator: "/").first.map(String.init) ?? ""
        guard let kind = Kind(rawValue: object["kind"]?.stringValue ?? ""), group == MeshConfig.group || group == MeshConfig.kusionGroup else {
            throw FieldErrors(["kind: expected a FaultInjection or CircuitBreaker of \(MeshConfig.group) or \(MeshConfig.kusionGroup), got \(apiVersion) \(object["kind"]?.stringValue ?? "")"])
        }
        var reader = FieldReader()
        let metadata = object["metadata"]
        let name = metadata?["name"]?.stringValue ?? ""
        if name.isEmpty { reader.fail("metadata.name", "Required value") }
        let spec = object["spec"] ?? .null
        reader.object(object, "", known: ["apiVersion", "kind", "metadata", "spec", "status"])
        let specFields: Set<String> = kind == .faultInjection ? ["selector", "disabled", "seed", "httpFault"]
            : ["selector", "disabled", "seed", "rateLimitings", "trafficInterceptRules"]
        if reader.object(spec, "spec", known: specFields) == nil { reader.fail("spec", "Required value") }
        self.kind = kind
        self.group = group
        self.namespace = metadata?["namespace"]?.stringValue ?? ""
        self.name = name
        self.selector = reader.selector(spec["selector"], "spec.selector", required: true)
        self.disabled = reader.bool(spec["disabled"], "spec.disabled") ?? false
        self.seed = reader.int(spec["seed"], "spec.seed").map { UInt64(bitPattern: Int64($0)) }
        self.faults = []
        self.limits = []
        self.intercepts = []
        switch kind {
        case .faultInjection:
            faults = reader.faultRules(spec["httpFault"], "spec.httpFault")
        case .circuitBreaker:
            limits = reader.limitRules(spec["rateLimitings"], "spec.rateLimitings", defaultScope: group == MeshConfig.group ? .wholeOperator : .pod)
            intercepts = reader.interceptRules(spec["trafficInterceptRules"], "spec.trafficInterceptRules")
            if limits.isEmpty && intercepts.isEmpty {
                reader.fail("spec", "Required value: at least one of rateLimitings or trafficInterceptRules")
            }
        }
        self.specHash = String(FNV1a64.hash(spec.serialized()), radix: 16)
        self.resetToken = metadata?["annotations"]?[PolicyDocument.resetAnnotation]?.stringValue
        guard reader.problems.isEmpty else { throw FieldErrors(reader.problems) }
    }

    /// Whether the policy applies to a pod of this namespace with these labels.
    public func selects(namespace: String, labels: [String: String]) -> Bool {
        namespace == self.namespace && selector.matches(labels)
    }
}
