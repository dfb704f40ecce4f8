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
///     mesh: ctrlmesh.kruise.io/kruise-system/kruise   # the ShardingConfig issuing it (optional)
extension ShardSpec {
    /// Parses a spec strictly: an unknown field or a value of the wrong type is an error (the
    /// proxy keeps its last good spec), and `resources` must be given — `resources: []` says
    /// explicitly that the spec shards nothing; a missing or misspelt list never does.
    public init(json: JSON) throws(ShardSpecError) {
        var reader = FieldReader()
        guard let json = reader.object(json, "", known: ["shard", "epoch", "mesh", "resources", "owned", "leaderElection"]) else {
            throw ShardSpecError("shard spec: expected an object")
        }
        let shard = reader.string(json["shard"], "shard") ?? ""
        let mesh = reader.string(json["mesh"], "mesh")
        if shard.isEmpty {
            reader.fail("shard", "required")
        } else if !NameValidation.isDNS1123Subdomain(shard) {
            reader.fail("shard", "\"\(shard)\" is not a valid DNS subdomain name")
        }
        let epoch = reader.int(json["epoch"], "epoch")
        if (epoch ?? -1) < 0 { reader.fail("epoch", "required, a non-negative integer") }
        var resources: [ResourceRule] = []
        if json["resources"] == nil || json["resources"]?.isNull == true {
            reader.fail("resources", "required: list the sharded resources, or write `resources: []` for a spec that shards nothing")
        }
        for (path, rule) in reader.objects(json["resources"], "resources", known: ["apiGroups", "resources", "key"]) {
            let groups = reader.strings(rule["apiGroups"], "\(path).apiGroups")
            let names = reader.strings(rule["resources"], "\(path).resources")
            if groups.isEmpty || names.isEmpty { reader.fail(path, "apiGroups and resources must not be empty") }
            let keyText = reader.string(rule["key"], "\(path).key") ?? "namespace"
            guard let key = KeyMode(rawValue: keyText) else {
                reader.fail("\(path).key", "\"\(keyText)\" is not one of namespace, object")
                continue
            }
            resources.append(ResourceRule(apiGroups: groups, resources: names, key: key))
        }
        var owned = OwnedKeys()
        if let ownedJSON = reader.object(json["owned"], "owned", known: ["namespaces", "namespaceSelectors", "namespaceRegexes",
                                                                         "namespaceHashRanges", "objectHashRanges"]) {
            owned.namespaces = Set(reader.strings(ownedJSON["namespaces"], "owned.namespaces"))
            for text in reader.strings(ownedJSON["namespaceSelectors"], "owned.namespaceSelectors") {
                do {
                    owned.namespaceSelectors.append(try LabelSelector(parsing: text))
                } catch {
                    reader.fail("owned.namespaceSelectors", "\(error)")
                }
            }
            for text in reader.strings(ownedJSON["namespaceRegexes"], "owned.namespaceRegexes") {
                do {
                    owned.namespacePatterns.append(try RegexPattern(text))
                } catch {
                    reader.fail("owned.namespaceRegexes", "\"\(text)\" is not a valid regular expression")
                }
            }
            owned.namespaceHashRanges = reader.hashRanges(ownedJSON["namespaceHashRanges"], "owned.namespaceHashRanges")
            owned.objectHashRanges = reader.hashRanges(ownedJSON["objectHashRanges"], "owned.objectHashRanges")
        }
        var lock: LeaderElectionLock?
        if let le = reader.object(json["leaderElection"], "leaderElection", known: ["group", "resource", "namespace", "name"]) {
            let namespace = reader.string(le["namespace"], "leaderElection.namespace") ?? ""
            let name = reader.string(le["name"], "leaderElection.name") ?? ""
            let resource = reader.string(le["resource"], "leaderElection.resource") ?? "leases"
            if namespace.isEmpty || name.isEmpty { reader.fail("leaderElection", "namespace and name are required") }
            if !["leases", "configmaps", "endpoints"].contains(resource) {
                reader.fail("leaderElection.resource", "\"\(resource)\" is not one of leases, configmaps, endpoints")
            }
            let group = reader.string(le["group"], "leaderElection.group") ?? (resource == "leases" ? "coordination.k8s.io" : "")
            lock = LeaderElectionLock(group: group, resource: resource, namespace: namespace, name: name)
        }
        guard reader.problems.isEmpty, let epoch else { throw ShardSpecError("shard spec: " + reader.problems.joined(separator: "; ")) }
        self.init(shard: shard, epoch: UInt64(epoch), resources: resources, owned: owned, leaderElection: lock, mesh: mesh)
    }
}

extension FieldReader {
    /// `[{start, end}]` of 0x-prefixed hex bounds, end exclusive (up to `0x10000000000000000`).
    mutating func hashRanges(_ value: JSON?, _ path: String) -> [HashRange] {
        var result: [HashRange] = []
        for (at, element) in objects(value, path, known: ["start", "end"]) {
            guard let start = string(element["start"], "\(at).start"), let end = string(element["end"], "\(at).end") else {
                fail(at, "start and end are required hex strings")
                continue
            }
            let bounds: (UInt64?, UInt64?)
            do {
                bounds = (try ShardSelector.hexBound("'\(start)'"[...], in: start), try ShardSelector.hexBound("'\(end)'"[...], in: end))
            } catch {
                fail(at, "start and end must be 0x-prefixed hex numbers up to 0x10000000000000000")
                continue
            }
            guard let low = bounds.0 else {
                fail(at, "start must be below 2^64")
                continue
            }
            guard let range = HashRange(start: low, endExclusive: bounds.1) else {
                fail(at, "end must be above start")
                continue
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
        if let mesh { object.setValue(.string(mesh), at: ["mesh"]) }
        if let lock = leaderElection {
            object.setValue(["group": .string(lock.group), "resource": .string(lock.resource),
                             "namespace": .string(lock.namespace), "name": .string(lock.name)], at: ["leaderElection"])
        }
        return object
    }
}
