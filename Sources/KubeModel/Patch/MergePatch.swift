/// JSON merge patch (RFC 7386): objects merge recursively, `null` removes, anything else replaces.
public enum MergePatch {
    public static func apply(_ patch: JSON, to target: JSON) -> JSON {
        guard case .object(let patchObject) = patch else { return patch }
        var result: JSONObject = target.objectValue ?? JSONObject()
        // Removals are applied together: one at a time, each would cost the object's size.
        var removed = Set<String>()
        for (key, value) in patchObject {
            if value.isNull {
                removed.insert(key)
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        result.removeKeys(removed)
        return .object(result)
    }
}

/// Why a patch could not be applied; the API server answers 422 (400 for malformed patches,
/// 413 for a patch over its size limits).
public struct PatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable { case malformed, failed, tooLarge }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The Status the API server answers with.
    public var status: StatusError {
        switch kind {
        case .malformed: StatusError.badRequest(message)
        case .failed: StatusError(code: 422, reason: .invalid, message: message)
        case .tooLarge: StatusError(code: 413, reason: .requestEntityTooLarge, message: message)
        }
    }
}
