import KubeModel

/// Revisions of a CloneSet's pod template: the full template's hash (the pod label
/// `controller-revision-hash`, as Kruise names it) and the hash without container images
/// (equal across an image-only change, which is what may be rolled in place).
enum CloneSetRevision {
    static let label = "controller-revision-hash"
    static let imagelessAnnotation = "sample.ctrlmesh.io/imageless-revision"

    static func full(name: String, template: JSON) -> String {
        "\(name)-\(hex(template))"
    }

    static func imageless(template: JSON) -> String {
        var stripped = template
        for field in ["containers", "initContainers"] {
            guard let containers = stripped["spec"]?[field]?.arrayValue else { continue }
            stripped.setValue(.array(containers.map { container in
                var c = container
                c["image"] = nil
                return c
            }), at: ["spec", field])
        }
        return hex(stripped)
    }

    private static func hex(_ json: JSON) -> String {
        let value = FNV1a64.hash(json.serialized())
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
