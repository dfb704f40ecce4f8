/// Whether a patch can change one field of `metadata`, read from the patch alone. The answer
/// is conservative: whatever the patch might do to that field, or to `metadata` or the whole
/// object around it, counts as a change. A patch that cannot change it leaves it as it is,
/// whatever the object holds; one that can must be applied to be judged.
public enum PatchReach {
    public enum Kind: Sendable { case json, merge, strategic }

    public static func mayChange(metadataField field: String, patch: JSON, kind: Kind) -> Bool {
        switch kind {
        case .json: return jsonPatchMayChange(field, patch)
        case .merge: return objectPatchMayChange(field, patch, directives: false)
        case .strategic: return objectPatchMayChange(field, patch, directives: true)
        }
    }

    static func jsonPatchMayChange(_ field: String, _ patch: JSON) -> Bool {
        guard case .array(let operations) = patch else { return true }
        for operation in operations {
            let op = operation["op"]?.stringValue
            if op == "test" { continue }
            var pointers: [JSON?] = [operation["path"]]
            if op == "move" { pointers.append(operation["from"]) }
            for pointer in pointers {
                guard let text = pointer?.stringValue, let tokens = try? JSONPatch.pointer(text) else { return true }
                if tokens.isEmpty || (tokens[0] == "metadata" && (tokens.count == 1 || tokens[1] == field)) { return true }
            }
        }
        return false
    }

    static func objectPatchMayChange(_ field: String, _ patch: JSON, directives: Bool) -> Bool {
        guard case .object(let root) = patch else { return true }
        if directives, root.keys.contains(where: { $0.hasPrefix("$") }) { return true }
        guard let metadata = root["metadata"] else { return false }
        guard case .object(let fields) = metadata else { return true }
        if fields[field] != nil { return true }
        return directives && fields.keys.contains { $0.hasPrefix("$") }
    }
}
