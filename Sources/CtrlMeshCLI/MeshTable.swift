import Foundation
import KubeModel

/// The table `ctrlmesh status` and the demo print for a ShardingConfig, from its status:
/// one row per shard with its members, leader, slots or namespaces, epoch and acknowledgement.
enum MeshTable {
    /// `extra` adds a column (header, value per shard), e.g. the demo's CloneSet counts.
    static func render(_ config: JSON, extra: (header: String, value: (String) -> String)? = nil) -> String {
        let namespace = config["metadata"]?["namespace"]?.stringValue ?? ""
        let name = config["metadata"]?["name"]?.stringValue ?? ""
        let status = config["status"] ?? .null
        let conditions = status["conditions"]?.arrayValue ?? []
        func condition(_ type: String) -> JSON? { conditions.first { $0["type"]?.stringValue == type } }
        var heading = "ShardingConfig \(namespace)/\(name) (\(config["apiVersion"]?.stringValue ?? ""))"
        if let ready = condition("Ready") {
            heading += "  Ready=\(ready["status"]?.stringValue ?? "?") (\(ready["reason"]?.stringValue ?? ""))"
        }
        heading += "  epoch \(status["epoch"]?.intValue.map(String.init) ?? "-")"
        let handovers = status["handovers"] ?? .null
        if let total = handovers["total"]?.intValue {
            heading += "  handovers \(total)"
            if let p50 = handovers["p50Milliseconds"]?.intValue, let p99 = handovers["p99Milliseconds"]?.intValue {
                heading += " (p50 \(p50) ms, p99 \(p99) ms)"
            }
        }
        var rows: [[String]] = [["SHARD", "MEMBERS", "LEADER", "SLOTS/NAMESPACES", "EPOCH", "ACKED"] + (extra.map { [$0.header] } ?? [])]
        for shard in status["shards"]?.arrayValue ?? [] {
            let shardName = shard["name"]?.stringValue ?? ""
            let members = (shard["members"]?.arrayValue ?? []).map { member in
                "\(member["pod"]?.stringValue ?? "")(\(member["state"]?.stringValue ?? "?"))"
            }.joined(separator: ",")
            let keys = shard["slots"]?.stringValue.map { $0.isEmpty ? "-" : $0 }
                ?? (shard["namespaces"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
            var row = [shardName, members.isEmpty ? "-" : members, shard["leader"]?.stringValue ?? "-", keys.isEmpty ? "-" : keys,
                       shard["epoch"]?.intValue.map(String.init) ?? "-", shard["ackedEpoch"]?.intValue.map(String.init) ?? "-"]
            if let extra { row.append(extra.value(shardName)) }
            rows.append(row)
        }
        var lines = [heading]
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row.indices.map { row[$0].padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined()
                .trimmingCharacters(in: .whitespaces))
        }
        for entry in status["unassigned"]?.arrayValue ?? [] {
            lines.append("  unassigned: \(entry["pod"]?.stringValue ?? ""): \(entry["reason"]?.stringValue ?? "")")
        }
        if let degraded = condition("Degraded"), degraded["status"]?.stringValue == "True" {
            lines.append("  Degraded: \(degraded["reason"]?.stringValue ?? ""): \(degraded["message"]?.stringValue ?? "")")
        }
        if let rollout = status["rollout"], let phase = rollout["phase"]?.stringValue {
            lines.append("  rollout: \(phase), \(rollout["message"]?.stringValue ?? "") (ctrlmesh rollout status for more)")
        }
        return lines.joined(separator: "\n")
    }
}
