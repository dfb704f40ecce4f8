import KubeModel
import MeshCore

/// What a proxy sends the manager on its session.
public enum ProxyMessage: Sendable, Equatable {
    /// First on every session: who the proxy is and the spec it enforces now (nil: none).
    case register(pod: String, namespace: String, applied: ShardSpec?)
    /// The spec of this epoch is applied: streams it invalidated ended, writes admitted under
    /// earlier specs finished.
    case ack(epoch: UInt64)
    /// Told it is unassigned, the proxy dropped its spec: it enforces nothing.
    case fenced
    case heartbeat
    /// Take a token from an operator-wide bucket (a CircuitBreaker rule with scope Operator);
    /// answered by `grant` with the same id.
    case acquire(id: UInt64, policy: String, rule: String)
    /// What the proxy did under each policy it applies, sent when it changed.
    case report([PolicyReport])
    /// Single-object calls on sharded resources answered since the last such message, and how
    /// many of them failed: what a canary rollout is judged by.
    case traffic(requests: Int, errors: Int)
}

/// What the manager sends a proxy.
public enum ManagerMessage: Sendable, Equatable {
    /// Enforce this spec from now on, then acknowledge its epoch.
    case spec(ShardSpec)
    /// The manager cannot place the proxy (no ShardingConfig selects its pod): fence.
    case unassigned(reason: String)
    case heartbeat
    /// Every FaultInjection and CircuitBreaker that selects the proxy's pod, as objects; it
    /// replaces the previous set.
    case policies([JSON])
    /// The answer to `acquire`: granted (nil), or refused with the seconds until a token.
    case grant(id: UInt64, retryAfter: Double?)
}

public struct MeshMessageError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Each message is one JSON object with a single key naming its kind.
public protocol JSONMessage: Sendable {
    var json: JSON { get }
    init(json: JSON) throws
}

extension ProxyMessage: JSONMessage {
    public var json: JSON {
        switch self {
        case .register(let pod, let namespace, let applied):
            var body: JSON = ["pod": .string(pod), "namespace": .string(namespace)]
            if let applied { body.setValue(applied.json, at: ["applied"]) }
            return ["register": body]
        case .ack(let epoch): return ["ack": ["epoch": .number(String(epoch))]]
        case .fenced: return ["fenced": [:]]
        case .heartbeat: return ["heartbeat": [:]]
        case .acquire(let id, let policy, let rule):
            return ["acquire": ["id": .number(String(id)), "policy": .string(policy), "rule": .string(rule)]]
        case .report(let reports): return ["report": .array(reports.map(\.json))]
        case .traffic(let requests, let errors): return ["traffic": ["requests": .int(requests), "errors": .int(errors)]]
        }
    }

    public init(json: JSON) throws {
        if let body = json["register"] {
            guard let pod = body["pod"]?.stringValue, let namespace = body["namespace"]?.stringValue else {
                throw MeshMessageError("register: pod and namespace are required")
            }
            let applied = try body["applied"].flatMap { $0.isNull ? nil : try ShardSpec(json: $0) }
            self = .register(pod: pod, namespace: namespace, applied: applied)
        } else if let body = json["ack"] {
            guard let text = body["epoch"].flatMap({ $0.intValue }), text >= 0 else { throw MeshMessageError("ack: epoch is required") }
            self = .ack(epoch: UInt64(text))
        } else if json["fenced"] != nil {
            self = .fenced
        } else if json["heartbeat"] != nil {
            self = .heartbeat
        } else if let body = json["acquire"] {
            guard let id = body["id"]?.intValue, let policy = body["policy"]?.stringValue, let rule = body["rule"]?.stringValue else {
                throw MeshMessageError("acquire: id, policy and rule are required")
            }
            self = .acquire(id: UInt64(bitPattern: id), policy: policy, rule: rule)
        } else if let body = json["report"] {
            self = .report((body.arrayValue ?? []).compactMap(PolicyReport.init(json:)))
        } else if let body = json["traffic"] {
            guard let requests = body["requests"]?.intValue, let errors = body["errors"]?.intValue, requests >= 0, errors >= 0 else {
                throw MeshMessageError("traffic: requests and errors are required")
            }
            self = .traffic(requests: Int(requests), errors: Int(errors))
        } else {
            throw MeshMessageError("unknown proxy message \(json.jsonString)")
        }
    }
}

extension ManagerMessage: JSONMessage {
    public var json: JSON {
        switch self {
        case .spec(let spec): return ["spec": spec.json]
        case .unassigned(let reason): return ["unassigned": ["reason": .string(reason)]]
        case .heartbeat: return ["heartbeat": [:]]
        case .policies(let objects): return ["policies": .array(objects)]
        case .grant(let id, let retryAfter):
            var body: JSON = ["id": .number(String(id))]
            if let retryAfter { body.setValue(.number(String(retryAfter)), at: ["retryAfter"]) }
            return ["grant": body]
        }
    }

    public init(json: JSON) throws {
        if let body = json["spec"] {
            self = .spec(try ShardSpec(json: body))
        } else if let body = json["unassigned"] {
            self = .unassigned(reason: body["reason"]?.stringValue ?? "")
        } else if json["heartbeat"] != nil {
            self = .heartbeat
        } else if let body = json["policies"] {
            self = .policies(body.arrayValue ?? [])
        } else if let body = json["grant"] {
            guard let id = body["id"]?.intValue else { throw MeshMessageError("grant: id is required") }
            self = .grant(id: UInt64(bitPattern: id), retryAfter: body["retryAfter"]?.doubleValue)
        } else {
            throw MeshMessageError("unknown manager message \(json.jsonString)")
        }
    }
}
