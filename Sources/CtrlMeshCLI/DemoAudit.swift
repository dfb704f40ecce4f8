import KubeAPIServer
import KubeModel
import MeshCore
import SampleOperator

/// The demo's verdict, from two independent records: the writes the API server saw (each
/// stamped by its proxy with shard and epoch) must never show a CloneSet's key written by two
/// shards at overlapping epochs; and each CloneSet's `reconciled-by` annotation must name a
/// member of the shard that owns its key now, so no key was left behind unowned.
struct DemoAudit {
    var report: OwnershipAudit.Report
    var misowned: [String]

    var passed: Bool { report.violations.isEmpty && misowned.isEmpty }

    init(writes: [WriteAudit.Record], config: JSON, cloneSets: [JSON]) {
        let audited = writes.filter { ($0.resource.group == "apps.kruise.io" && $0.resource.resource == "clonesets") || ($0.resource.group == "" && $0.resource.resource == "pods") }
        report = OwnershipAudit.check(audited.map {
            OwnershipAudit.Write(resourceVersion: $0.resourceVersion, key: $0.controllerUID ?? $0.uid, shard: $0.shard, epoch: $0.epoch)
        })
        misowned = DemoAudit.misowned(config: config, cloneSets: cloneSets)
    }

    /// The CloneSets whose `reconciled-by` names no member of the shard owning their slot now.
    static func misowned(config: JSON, cloneSets: [JSON]) -> [String] {
        let slots = Int(config["status"]?["units"]?.intValue ?? 256)
        var shardOfPod: [String: String] = [:]
        var ownerOfSlot: [Int: String] = [:]
        for shard in config["status"]?["shards"]?.arrayValue ?? [] {
            guard let name = shard["name"]?.stringValue else { continue }
            for member in shard["members"]?.arrayValue ?? [] { shardOfPod[member["pod"]?.stringValue ?? ""] = name }
            for slot in MeshConfig.slots(fromText: shard["slots"]?.stringValue ?? "", limit: slots) ?? [] { ownerOfSlot[slot] = name }
        }
        return cloneSets.compactMap { cloneSet in
            let key = "\(cloneSet.namespace ?? "")/\(cloneSet.name ?? "")"
            let slot = SlotAssignment.slot(of: FNV1a64.hash(cloneSet.uid ?? ""), slots: slots)
            let owner = ownerOfSlot[slot]
            let by = cloneSet.annotations[CloneSetController.reconciledByAnnotation] ?? ""
            guard owner == nil || shardOfPod[by] != owner else { return nil }
            return "\(key): slot \(slot) belongs to \(owner ?? "no shard") but was last reconciled by \(by.isEmpty ? "nobody" : by) (\(shardOfPod[by] ?? "no shard"))"
        }
    }

    var summary: String {
        var lines = ["audit: \(report.writes) writes through the proxies to \(report.keys) CloneSet keys, \(report.keysMoved) of them written by more than one shard over the run (handed over)"]
        if report.violations.isEmpty {
            lines.append("  PASS no key was written by two shards at overlapping epochs")
        } else {
            lines.append("  FAIL \(report.violations.count) keys written by two shards at overlapping epochs:")
            lines += report.violations.prefix(10).map { "    \($0)" }
        }
        if misowned.isEmpty {
            lines.append("  PASS every CloneSet was last reconciled by a member of the shard that owns it")
        } else {
            lines.append("  FAIL \(misowned.count) CloneSets not reconciled by their owner:")
            lines += misowned.prefix(10).map { "    \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
