import KubeModel

public struct ShardSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The spec's wire form (JSON, or YAML converted to JSON):
///
///     shard: shard-0
///     epoch: 3
///     resources:
///     - {apiGroups: [""], resources: [configmaps], key: namespace}
///     - {apiGroups: [apps.kruise.io], resources: [clonesets], key: object}
///     owned:
///       namespaces: [team-a]
///       namespaceSelectors: ["tier=gold"]
///       namespaceRegexes: ["^team-[ab]$"]
///       namespaceHashRanges: [{start: "0x0", end: "0x8000000000000000"}]
///       objectHashRanges: [{start: "0x0", end: "0x10000000000000000"}]
///     leaderElection: {resource: leases, namespace: kruise-system, name: kruise-manager}
extension ShardSpec {
    public init(json: JSON) throws(ShardSpecError) {
        guard json.objectValue != nil else { throw ShardSpecError("shard spec: expected an object") }
        guard let shard = json["shard"]?.stringValue, !shard.isEmpty else { throw ShardSpecError("shard spec: shard: required") }
        guard NameValidation.isDNS1123Subdomain(shard) else {
            throw ShardSpecError("shard spec: shard: \"\(shard)\" is not a valid DNS subdomain name")
        }
        guard let epochValue = json["epoch"]?.intValue, epochValue >= 0 else {
            throw ShardSpecError("shard spec: epoch: required, a non-negative integer")
        }
        var resources: [ResourceRule] = []
        for (i, rule) in (json["resources"]?.arrayValue ?? []).enumerated() {
            let path = "resources[\(i)]"
            let groups = try ShardSpec.strings(rule["apiGroups"], "\(path).apiGroups")
            let names = try ShardSpec.strings(rule["resources"], "\(path).resources")
            guard !groups.isEmpty, !names.isEmpty else { throw ShardSpecError("shard spec: \(path): apiGroups and resources must not be empty") }
            let keyText = rule["key"]?.stringValue ?? "namespace"
            guard let key = KeyMode(rawValue: keyText) else {
                throw ShardSpecError("shard spec: \(path).key: \"\(keyText)\" is not one of namespace, object")
            }
            resources.append(ResourceRule(apiGroups: groups, resources: names, key: key))
        }
        let ownedJSON = json["owned"] ?? .object(JSONObject())
        var owned = OwnedKeys()
        owned.namespaces = Set(try ShardSpec.strings(ownedJSON["namespaces"], "owned.namespaces"))
        for text in try ShardSpec.strings(ownedJSON["namespaceSelectors"], "owned.namespaceSelectors") {
            do {
                owned.namespaceSelectors.append(try LabelSelector(parsing: text))
            } catch {
                throw ShardSpecError("shard spec: owned.namespaceSelectors: \(error)")
            }
        }
        for text in try ShardSpec.strings(ownedJSON["namespaceRegexes"], "owned.namespaceRegexes") {
            do {
                owned.namespacePatterns.append(try RegexPattern(text))
            } catch {
                throw ShardSpecError("shard spec: owned.namespaceRegexes: \"\(text)\" is not a valid regular expression")
            }
        }
        owned.namespaceHashRanges = try ShardSpec.ranges(ownedJSON["namespaceHashRanges"], "owned.namespaceHashRanges")
        owned.objectHashRanges = try ShardSpec.ranges(ownedJSON["objectHashRanges"], "owned.objectHashRanges")

        var lock: LeaderElectionLock?
        if let le = json["leaderElection"], !le.isNull {
            guard let namespace = le["namespace"]?.stringValue, let name = le["name"]?.stringValue, !name.isEmpty else {
                throw ShardSpecError("shard spec: leaderElection: namespace and name are required")
            }
            let resource = le["resource"]?.stringValue ?? "leases"
            guard ["leases", "configmaps", "endpoints"].contains(resource) else {
                throw ShardSpecError("shard spec: leaderElection.resource: \"\(resource)\" is not one of leases, configmaps, endpoints")
            }
            let group = le["group"]?.stringValue ?? (resource == "leases" ? "coordination.k8s.io" : "")
            lock = LeaderElectionLock(group: group, resource: resource, namespace: namespace, name: name)
        }
        self.init(shard: shard, epoch: UInt64(epochValue), resources: resources, owned: owned, leaderElection: lock)
    }

    static func strings(_ value: JSON?, _ path: String) throws(ShardSpecError) -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue else { throw ShardSpecError("shard spec: \(path): expected a list of strings") }
        var result: [String] = []
        for element in array {
            guard let s = element.stringValue else { throw ShardSpecError("shard spec: \(path): expected a list of strings") }
            result.append(s)
        }
        return result
    }

    static func ranges(_ value: JSON?, _ path: String) throws(ShardSpecError) -> [HashRange] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue else { throw ShardSpecError("shard spec: \(path): expected a list of {start, end}") }
        var result: [HashRange] = []
        for (i, element) in array.enumerated() {
            guard let start = element["start"]?.stringValue, let end = element["end"]?.stringValue else {
                throw ShardSpecError("shard spec: \(path)[\(i)]: start and end are required hex strings")
            }
            let bounds: (UInt64?, UInt64?)
            do {
                bounds = (try ShardSelector.hexBound("'\(start)'"[...], in: start), try ShardSelector.hexBound("'\(end)'"[...], in: end))
            } catch {
                throw ShardSpecError("shard spec: \(path)[\(i)]: start and end must be 0x-prefixed hex numbers up to 0x10000000000000000")
            }
            guard let low = bounds.0 else { throw ShardSpecError("shard spec: \(path)[\(i)]: start must be below 2^64") }
            guard let range = HashRange(start: low, endExclusive: bounds.1) else {
                throw ShardSpecError("shard spec: \(path)[\(i)]: end must be above start")
            }
            result.append(range)
        }
        return result
    }
}

extension ShardSpec {
    /// The wire form `init(json:)` reads, for the manager to send.
    public var json: JSON {
        func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
        func ranges(_ values: [HashRange]) -> JSON {
            .array(values.map { ["start": .string(HashRange.hex($0.start)), "end": .string(HashRange.hex($0.endExclusive))] })
        }
        var object: JSON = [
            "shard": .string(shard),
            "epoch": .number(String(epoch)),
            "resources": .array(resources.map { rule in
                ["apiGroups": strings(rule.apiGroups), "resources": strings(rule.resources), "key": .string(rule.key.rawValue)]
            }),
            "owned": [
                "namespaces": strings(owned.namespaces.sorted()),
                "namespaceSelectors": strings(owned.namespaceSelectors.map(\.text)),
                "namespaceRegexes": strings(owned.namespacePatterns.map(\.pattern)),
                "namespaceHashRanges": ranges(owned.namespaceHashRanges),
                "objectHashRanges": ranges(owned.objectHashRanges),
            ],
        ]
        if let lock = leaderElection {
            object.setValue(["group": .string(lock.group), "resource": .string(lock.resource),
                             "namespace": .string(lock.namespace), "name": .string(lock.name)], at: ["leaderElection"])
        }
        return object
    }
}
