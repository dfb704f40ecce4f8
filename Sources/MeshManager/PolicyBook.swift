import Foundation
import KubeModel
import Logging
import MeshControl
import MeshCore

/// The leader's view of FaultInjections and CircuitBreakers: it sends each connected proxy
/// the policies that select its pod (again whenever that set changes), keeps the
/// operator-wide token buckets every selected proxy draws from, and gathers the proxies'
/// reports for the status writer.
///
/// Operator-wide buckets live here rather than being split among the shards: a delete budget
/// like "5 pods a minute" then holds exactly however the deletes fall across shards, with no
/// rebalancing, and a proxy that cannot reach the manager refuses (fails closed) instead of
/// spending a share it cannot account for. A new leader starts its buckets empty: it cannot
/// know what its predecessor granted, so across a failover the budget is never exceeded.
actor PolicyBook {
    /// A connected proxy.
    struct Member {
        let pod: Pod
        let send: AsyncStream<ManagerMessage>.Continuation
        var sent: [JSON]?
    }

    /// A pod that has connected during this leadership, with its last reports: its row in
    /// status outlives a reconnect (shown as disconnected meanwhile).
    struct Pod: Hashable {
        let name: String
        let namespace: String
        let labels: [String: String]
    }

    struct Entry {
        let document: PolicyDocument
        /// What proxies are sent: the object without its status and managed fields.
        let object: JSON
        let generation: Int64?
    }

    /// A breaker that changed state on a pod, for an Event.
    struct Transition: Sendable {
        let resource: GroupVersionResource
        let namespace: String
        let name: String
        let kind: String
        let pod: String
        let rule: String
        let state: String
    }

    /// One policy's status to write.
    struct StatusUpdate: Sendable {
        let resource: GroupVersionResource
        let namespace: String
        let name: String
        let status: JSON
    }

    let logger: Logger
    let origin = ContinuousClock.now
    var entries: [String: Entry] = [:]
    /// Invalid policies by key, with where they live and why.
    var invalid: [String: (resource: GroupVersionResource, namespace: String, name: String, reason: String)] = [:]
    var members: [Int: Member] = [:]
    var reports: [Pod: [String: PolicyReport]] = [:]
    /// When each pod's last session ended: its row is dropped after `forgetAfter`.
    var disconnected: [Pod: ContinuousClock.Instant] = [:]
    let forgetAfter: Duration
    var buckets: [String: (rule: LimitRule.Bucket, bucket: TokenBucket)] = [:]
    var dirty: Set<String> = []
    var transitions: [Transition] = []

    init(logger: Logger, forgetAfter: Duration = .seconds(600)) {
        self.logger = logger
        self.forgetAfter = forgetAfter
    }

    var now: Double { (ContinuousClock.now - origin).seconds }

    // MARK: Policies

    func upserted(resource: GroupVersionResource, object: JSON) {
        let namespace = object.namespace ?? ""
        let name = object.name ?? ""
        let key = PolicyDocument.key(group: resource.group, kind: object.kind ?? "", namespace: namespace, name: name)
        do {
            let document = try PolicyDocument(object: object)
            var sent: JSON = ["apiVersion": object["apiVersion"] ?? .null, "kind": object["kind"] ?? .null, "spec": object["spec"] ?? .null]
            var metadata: JSON = ["name": .string(name), "namespace": .string(namespace)]
            if let annotations = object["metadata"]?["annotations"] { metadata.setValue(annotations, at: ["annotations"]) }
            sent.setValue(metadata, at: ["metadata"])
            let wasInvalid = invalid.removeValue(forKey: key) != nil
            if let old = entries[key], old.object == sent {
                // Status-only updates change nothing; an edit back to the version in force
                // clears the InvalidSpec condition.
                if wasInvalid { dirty.insert(key) }
                return
            }
            entries[key] = Entry(document: document, object: sent, generation: object["metadata"]?["generation"]?.intValue)
            // Each operator-wide bucket starts empty when the rule is first seen, and afresh
            // when it changes.
            let now = self.now
            for rule in document.limits where rule.scope == .wholeOperator {
                guard let spec = rule.bucket else { continue }
                let bucketKey = PolicyBook.bucketKey(policy: key, rule: rule.name)
                if buckets[bucketKey]?.rule != spec {
                    buckets[bucketKey] = (spec, TokenBucket(rate: spec.ratePerSecond, burst: spec.burst, now: now, empty: true))
                }
            }
        } catch {
            // The last valid version stays in force: an edit that breaks a breaker must not
            // switch it off.
            logger.error("\(object.kind ?? "policy") \(namespace)/\(name) is invalid; keeping its last valid version: \(error)")
            invalid[key] = (resource, namespace, name, error.description)
        }
        dirty.insert(key)
        pushAll()
    }

    func deleted(resource: GroupVersionResource, object: JSON) {
        let key = PolicyDocument.key(group: resource.group, kind: object.kind ?? "", namespace: object.namespace ?? "", name: object.name ?? "")
        invalid[key] = nil
        guard entries.removeValue(forKey: key) != nil else { return }
        for bucketKey in buckets.keys where bucketKey.hasPrefix(PolicyBook.bucketKey(policy: key, rule: "")) { buckets[bucketKey] = nil }
        for pod in reports.keys { reports[pod]?[key] = nil }
        pushAll()
    }

    // MARK: Sessions

    func joined(session: Int, pod: String, namespace: String, labels: [String: String], send: AsyncStream<ManagerMessage>.Continuation) {
        let record = Pod(name: pod, namespace: namespace, labels: labels)
        // The same pod with other labels is another row.
        for known in reports.keys where known.name == pod && known.namespace == namespace && known != record { reports[known] = nil }
        if reports[record] == nil { reports[record] = [:] }
        disconnected[record] = nil
        members[session] = Member(pod: record, send: send)
        push(session)
        dirty.formUnion(selecting(record))
    }

    func left(session: Int) {
        guard let member = members.removeValue(forKey: session) else { return }
        if !members.values.contains(where: { $0.pod == member.pod }) { disconnected[member.pod] = .now }
        dirty.formUnion(selecting(member.pod))
    }

    /// Drops the rows of pods gone longer than `forgetAfter` (a pod that is deleted leaves no
    /// other trace here), so status lists only pods that may still be running.
    func forgetGonePods() {
        let cutoff = ContinuousClock.now - forgetAfter
        for (pod, since) in disconnected where since <= cutoff {
            disconnected[pod] = nil
            reports[pod] = nil
            dirty.formUnion(selecting(pod))
        }
    }

    func selecting(_ pod: Pod) -> [String] {
        entries.filter { $0.value.document.selects(namespace: pod.namespace, labels: pod.labels) }.map(\.key)
    }

    func pushAll() {
        for session in members.keys { push(session) }
    }

    func push(_ session: Int) {
        guard let member = members[session] else { return }
        let objects = entries.keys.sorted().compactMap { key -> JSON? in
            let entry = entries[key]!
            return entry.document.selects(namespace: member.pod.namespace, labels: member.pod.labels) ? entry.object : nil
        }
        guard member.sent != objects else { return }
        members[session]?.sent = objects
        member.send.yield(.policies(objects))
    }

    /// A token from an operator-wide bucket: nil when granted, else seconds until one is.
    func acquire(policy: String, rule name: String) -> Double? {
        let key = PolicyBook.bucketKey(policy: policy, rule: name)
        // A rule deleted or changed to another scope since the proxy loaded it limits nothing.
        guard var state = buckets[key], entries[policy] != nil else { return nil }
        let wait = state.bucket.take(now: now)
        buckets[key] = state
        return wait > 0 ? wait : nil
    }

    static func bucketKey(policy: String, rule: String) -> String { "\(policy)#\(rule)" }

    func reported(session: Int, reports: [PolicyReport]) {
        guard let member = members[session] else { return }
        for report in reports {
            let previous = self.reports[member.pod]?[report.key]
            self.reports[member.pod, default: [:]][report.key] = report
            dirty.insert(report.key)
            guard let entry = entries[report.key] else { continue }
            for rule in report.rules {
                guard let state = rule.state else { continue }
                let before = previous?.rules.first { $0.name == rule.name }.flatMap { old in old.state.map { ($0, old.transitions) } }
                for entered in BreakerTransitions.entered(previous: before, state: state, count: rule.transitions) {
                    transitions.append(Transition(resource: entry.document.resource, namespace: entry.document.namespace,
                                                  name: entry.document.name, kind: entry.document.kind.rawValue, pod: member.pod.name,
                                                  rule: rule.name, state: entered))
                }
            }
        }
    }

    // MARK: Status

    func takeDirty() -> (updates: [StatusUpdate], transitions: [Transition]) {
        forgetGonePods()
        let keys = dirty
        dirty = []
        let changes = transitions
        transitions = []
        var updates: [StatusUpdate] = []
        for key in keys.sorted() {
            if let bad = invalid[key] {
                updates.append(StatusUpdate(resource: bad.resource, namespace: bad.namespace, name: bad.name, status: [
                    "lastUpdatedTime": .string(Timestamp.now()),
                    "conditions": [["type": "Ready", "status": "False", "reason": "InvalidSpec",
                                    "message": .string("\(bad.reason); the last valid version stays in force")]],
                ]))
                continue
            }
            guard let entry = entries[key] else { continue }
            updates.append(StatusUpdate(resource: entry.document.resource, namespace: entry.document.namespace, name: entry.document.name,
                                        status: status(entry)))
        }
        return (updates, changes)
    }

    /// KusionStack's status shape (`currentSpecHash`, `targetStatus[]` with `podName`,
    /// `configHash` and, for breakers, `limitingSnapshots`) plus each rule's counters.
    func status(_ entry: Entry) -> JSON {
        let key = entry.document.key
        var targets: [JSON] = []
        let connected = Set(members.values.map(\.pod))
        for (pod, podReports) in reports.sorted(by: { $0.key.name < $1.key.name }) {
            guard entry.document.selects(namespace: pod.namespace, labels: pod.labels) else { continue }
            var target: JSON = ["podName": .string(pod.name)]
            if let report = podReports[key] {
                target.setValue(.string(report.specHash), at: ["configHash"])
                let message = !connected.contains(pod) ? "disconnected; last report shown"
                    : report.specHash == entry.document.specHash ? "applied" : "applying the current spec"
                target.setValue(.string(message), at: ["message"])
                target.setValue(.array(report.rules.map { PolicyBook.counters($0) }), at: ["rules"])
                if entry.document.kind == .circuitBreaker {
                    target.setValue(.array(report.rules.compactMap { rule in
                        guard let state = rule.state else { return nil }
                        var snapshot: JSON = ["name": .string(rule.name), "state": .string(state)]
                        if let time = rule.lastTransitionTime { snapshot.setValue(.string(time), at: ["lastTransitionTime"]) }
                        return snapshot
                    }), at: ["limitingSnapshots"])
                }
            } else {
                target.setValue("waiting for the proxy's first report", at: ["message"])
            }
            targets.append(target)
        }
        // The list replaces an InvalidSpec condition a merge patch would otherwise keep.
        var status: JSON = ["currentSpecHash": .string(entry.document.specHash), "lastUpdatedTime": .string(Timestamp.now()),
                            "targetStatus": .array(targets),
                            "conditions": [["type": "Ready", "status": "True", "reason": "Valid", "message": "sent to the pods it selects"]]]
        if let generation = entry.generation { status.setValue(.int64(generation), at: ["observedGeneration"]) }
        return status
    }

    static func counters(_ rule: PolicyReport.Rule) -> JSON {
        var out: JSON = ["name": .string(rule.name), "matched": .int(rule.matched)]
        for (field, value) in [("delayed", rule.delayed), ("aborted", rule.aborted), ("watchFaults", rule.watchFaults),
                               ("limited", rule.limited), ("refused", rule.refused)] where value > 0 {
            out.setValue(.int(value), at: [field])
        }
        return out
    }

    func shutdown() {
        members = [:]
        reports = [:]
        disconnected = [:]
    }
}
