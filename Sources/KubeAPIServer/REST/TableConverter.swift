import Foundation
import KubeModel

/// Renders objects as a `meta.k8s.io/v1` Table for kubectl: the columns the real printers show
/// for common built-in kinds, `additionalPrinterColumns` for CRDs, Name and Age otherwise.
struct TableConverter: Sendable {
    struct Column: Sendable {
        var name: String
        var type: String = "string"
        var format: String = ""
        var priority: Int = 0
        var cell: @Sendable (JSON) -> JSON
    }

    let resource: ResourceInfo
    let columns: [Column]

    init(resource: ResourceInfo) {
        self.resource = resource
        self.columns = TableConverter.columns(for: resource)
    }

    func table(for objects: [StoredObject], resourceVersion: UInt64, includeObject: String?) -> JSON {
        let definitions: [JSON] = columns.map {
            ["name": .string($0.name), "type": .string($0.type), "format": .string($0.format), "description": "", "priority": .int($0.priority)]
        }
        let rows: [JSON] = objects.map { object in
            var row: JSON = ["cells": .array(columns.map { $0.cell(object.json) })]
            switch includeObject {
            case "None": break
            case "Object": row["object"] = object.json
            default:
                row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object.json["metadata"] ?? [:]]
            }
            return row
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": ["resourceVersion": .string(String(resourceVersion))],
                "columnDefinitions": .array(definitions), "rows": .array(rows)]
    }

    static let name = Column(name: "Name", format: "name") { .string($0.name ?? "") }
    static let age = Column(name: "Age") { .string(Timestamp.age(since: $0.metadataValue("creationTimestamp")?.stringValue)) }

    static func path(_ name: String, _ keys: String..., default fallback: JSON = "<none>", priority: Int = 0, type: String = "string") -> Column {
        Column(name: name, type: type, priority: priority) { object in object.value(at: keys).map(display) ?? fallback }
    }

    static func display(_ value: JSON) -> JSON {
        switch value {
        case .string, .number, .bool: return value
        case .null: return "<none>"
        default: return .string(value.jsonString)
        }
    }

    static func count(_ value: JSON?) -> Int {
        value?.objectValue?.count ?? value?.arrayValue?.count ?? 0
    }

    static func columns(for r: ResourceInfo) -> [Column] {
        if r.isCustom {
            if r.printerColumns.isEmpty { return [name, age] }
            return [name] + r.printerColumns.map { c in
                Column(name: c.name, type: c.type, format: c.format, priority: c.priority) { object in
                    let values = SimpleJSONPath(c.jsonPath).evaluate(object)
                    guard let first = values.first else { return .null }
                    if c.type == "date", let s = first.stringValue { return .string(Timestamp.age(since: s)) }
                    return values.count == 1 ? display(first) : .string(values.map { $0.stringValue ?? $0.jsonString }.joined(separator: ","))
                }
            }
        }
        switch (r.group, r.plural) {
        case ("", "pods"):
            return [name,
                    Column(name: "Ready") { pod in
                        let statuses = pod["status"]?["containerStatuses"]?.arrayValue ?? []
                        let total = pod["spec"]?["containers"]?.arrayValue?.count ?? statuses.count
                        let ready = statuses.filter { $0["ready"]?.boolValue == true }.count
                        return .string("\(ready)/\(total)")
                    },
                    Column(name: "Status") { pod in
                        if pod.deletionTimestamp != nil { return "Terminating" }
                        return .string(pod["status"]?["reason"]?.stringValue ?? pod["status"]?["phase"]?.stringValue ?? "Pending")
                    },
                    Column(name: "Restarts", type: "string") { pod in
                        let restarts = (pod["status"]?["containerStatuses"]?.arrayValue ?? []).reduce(Int64(0)) { $0 + ($1["restartCount"]?.intValue ?? 0) }
                        return .string(String(restarts))
                    },
                    age,
                    path("IP", "status", "podIP", priority: 1),
                    path("Node", "spec", "nodeName", priority: 1)]
        case ("", "namespaces"):
            return [name, path("Status", "status", "phase", default: "Active"), age]
        case ("", "configmaps"):
            return [name, Column(name: "Data", type: "integer") { .int(count($0["data"]) + count($0["binaryData"])) }, age]
        case ("", "secrets"):
            return [name, path("Type", "type", default: "Opaque"), Column(name: "Data", type: "integer") { .int(count($0["data"])) }, age]
        case ("", "services"):
            return [name, path("Type", "spec", "type", default: "ClusterIP"), path("Cluster-IP", "spec", "clusterIP"),
                    Column(name: "External-IP") { _ in "<none>" },
                    Column(name: "Port(s)") { svc in
                        let ports = (svc["spec"]?["ports"]?.arrayValue ?? []).map { p in
                            "\(p["port"]?.intValue.map(String.init) ?? "")/\(p["protocol"]?.stringValue ?? "TCP")"
                        }
                        return .string(ports.isEmpty ? "<none>" : ports.joined(separator: ","))
                    }, age]
        case ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets"):
            return [name,
                    Column(name: "Ready") { o in
                        .string("\(o["status"]?["readyReplicas"]?.intValue ?? 0)/\(o["spec"]?["replicas"]?.intValue ?? 1)")
                    },
                    age]
        case ("", "nodes"):
            return [name,
                    Column(name: "Status") { node in
                        let ready = node["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
                        return ready?["status"]?.stringValue == "True" ? "Ready" : "NotReady"
                    },
                    age]
        case ("coordination.k8s.io", "leases"):
            return [name, path("Holder", "spec", "holderIdentity", default: ""), age]
        case ("", "events"):
            return [Column(name: "Last Seen") { .string(Timestamp.age(since: $0["lastTimestamp"]?.stringValue ?? $0["eventTime"]?.stringValue)) },
                    path("Type", "type"), path("Reason", "reason"),
                    Column(name: "Object") { e in
                        .string("\((e["involvedObject"]?["kind"]?.stringValue ?? "").lowercased())/\(e["involvedObject"]?["name"]?.stringValue ?? "")")
                    },
                    path("Message", "message")]
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            return [name, Column(name: "Created At", type: "date") { $0.metadataValue("creationTimestamp") ?? .null }]
        default:
            return [name, age]
        }
    }
}

/// The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[*].b`,
/// `.a[?(@.type=="Ready")].status`.
struct SimpleJSONPath {
    enum Step {
        case key(String)
        case index(Int)
        case all
        case filter(key: String, value: String)
    }

    var steps: [Step] = []

    init(_ text: String) {
        var s = Substring(text.trimmingCharacters(in: CharacterSet(charactersIn: "{}")))
        while !s.isEmpty {
            if s.hasPrefix(".") {
                s = s.dropFirst()
                let end = s.firstIndex { $0 == "." || $0 == "[" } ?? s.endIndex
                if end > s.startIndex { steps.append(.key(String(s[..<end]))) }
                s = s[end...]
            } else if s.hasPrefix("[") {
                guard let close = s.firstIndex(of: "]") else { break }
                var inner = s[s.index(after: s.startIndex)..<close]
                // A filter may contain "]" inside quotes only in exotic cases; not supported.
                if inner == "*" {
                    steps.append(.all)
                } else if let i = Int(inner) {
                    steps.append(.index(i))
                } else if inner.hasPrefix("?(@.") {
                    inner = inner.dropFirst(4).dropLast(inner.hasSuffix(")") ? 1 : 0)
                    let parts = inner.components(separatedBy: "==")
                    if parts.count == 2 {
                        let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: " \"'"))
                        steps.append(.filter(key: parts[0].trimmingCharacters(in: .whitespaces), value: value))
                    }
                } else {
                    steps.append(.key(inner.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))))
                }
                s = s[s.index(after: close)...]
            } else {
                let end = s.firstIndex { $0 == "." || $0 == "[" } ?? s.endIndex
                steps.append(.key(String(s[..<end])))
                s = s[end...]
            }
        }
    }

    func evaluate(_ root: JSON) -> [JSON] {
        var current = [root]
        for step in steps {
            var next: [JSON] = []
            for value in current {
                switch step {
                case .key(let k): if let v = value[k] { next.append(v) }
                case .index(let i):
                    if let a = value.arrayValue {
                        let index = i < 0 ? a.count + i : i
                        if index >= 0 && index < a.count { next.append(a[index]) }
                    }
                case .all: next.append(contentsOf: value.arrayValue ?? [])
                case .filter(let key, let expected):
                    for element in value.arrayValue ?? [] {
                        let actual = element[key]
                        if actual?.stringValue == expected || actual.map({ $0.jsonString == expected }) == true { next.append(element) }
                    }
                }
            }
            current = next
        }
        return current
    }
}
