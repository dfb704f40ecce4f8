import KubeModel

/// The parts of an `apps.kruise.io/v1alpha1` CloneSet this operator implements, read from
/// the object's JSON with Kruise's defaults.
struct CloneSetSpec {
    enum UpdateType: String {
        case recreate = "ReCreate"
        case inPlaceIfPossible = "InPlaceIfPossible"
        case inPlaceOnly = "InPlaceOnly"
    }

    var replicas: Int
    var selector: LabelSelector
    var template: JSON
    var updateType: UpdateType
    /// Pods kept at the old revision.
    var partition: Int
    var maxUnavailable: Int
    var podsToDelete: Set<String>

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ cloneSet: JSON) throws {
        let spec = cloneSet["spec"] ?? .object(JSONObject())
        replicas = Int(spec["replicas"]?.intValue ?? 1)
        guard let selectorJSON = spec["selector"] else { throw Invalid(description: "spec.selector is required") }
        selector = try LabelSelector(object: selectorJSON)
        guard let template = spec["template"] else { throw Invalid(description: "spec.template is required") }
        self.template = template
        let strategy = spec["updateStrategy"]
        let typeName = strategy?["type"]?.stringValue ?? UpdateType.recreate.rawValue
        guard let type = UpdateType(rawValue: typeName) else {
            throw Invalid(description: "spec.updateStrategy.type \"\(typeName)\" is not ReCreate, InPlaceIfPossible or InPlaceOnly")
        }
        updateType = type
        partition = try Self.scaled(strategy?["partition"], of: replicas, roundUp: true, default: 0)
        // Kruise's default: 20% of replicas, at least one.
        maxUnavailable = max(1, try Self.scaled(strategy?["maxUnavailable"], of: replicas, roundUp: false, default: max(1, replicas / 5)))
        podsToDelete = Set(spec["scaleStrategy"]?["podsToDelete"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// An int-or-percent field (`3` or `"40%"`) resolved against the replica count.
    static func scaled(_ value: JSON?, of total: Int, roundUp: Bool, default fallback: Int) throws -> Int {
        guard let value, !value.isNull else { return fallback }
        if let n = value.intValue { return Int(n) }
        if let text = value.stringValue {
            if text.hasSuffix("%"), let percent = Double(text.dropLast()) {
                let exact = Double(total) * percent / 100
                return Int(roundUp ? exact.rounded(.up) : exact.rounded(.down))
            }
            if let n = Int(text) { return n }
        }
        throw Invalid(description: "\(value.jsonString) is neither an integer nor a percentage")
    }
}
