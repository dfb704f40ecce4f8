/// Strategic merge patch for built-in kinds: a merge patch whose lists merge by key, with the
/// `$patch`, `$setElementOrder/`, `$deleteFromPrimitiveList/` and `$retainKeys` directives.
public enum StrategicMergePatch {
    static let directive = "$patch"
    static let retainKeys = "$retainKeys"
    static let setElementOrderPrefix = "$setElementOrder/"
    static let deleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/"

    public static func apply(_ patch: JSON, to original: JSON, schema: StrategicMergeSchema = StrategicMergeSchema()) throws(PatchError) -> JSON {
        guard case .object(let patchObject) = patch else {
            throw PatchError(.malformed, "strategic merge patch must be a JSON object")
        }
        return try mergeObject(original.objectValue ?? JSONObject(), patchObject, path: [], schema: schema) ?? .object(JSONObject())
    }

    /// Returns nil when the patch deletes the object (`$patch: delete`).
    static func mergeObject(_ original: JSONObject, _ patch: JSONObject, path: [String], schema: StrategicMergeSchema) throws(PatchError) -> JSON? {
        if let d = patch[directive] {
            switch d.stringValue {
            case "replace":
                var replaced = patch
                replaced[directive] = nil
                return .object(try stripDirectives(replaced))
            case "delete":
                return nil
            case "merge": break
            default:
                throw PatchError(.malformed, "Unknown patch type: \(d.stringValue ?? d.typeName)")
            }
        }
        var result = original
        var orders: [String: [JSON]] = [:]
        for (key, value) in patch {
            if key == directive || key == retainKeys { continue }
            if key.hasPrefix(setElementOrderPrefix) {
                guard let order = value.arrayValue else { throw PatchError(.malformed, "\(key) must be a list") }
                orders[String(key.dropFirst(setElementOrderPrefix.count))] = order
                continue
            }
            if key.hasPrefix(deleteFromPrimitiveListPrefix) {
                let field = String(key.dropFirst(deleteFromPrimitiveListPrefix.count))
                guard let toDelete = value.arrayValue else { throw PatchError(.malformed, "\(key) must be a list") }
                if let list = result[field]?.arrayValue {
                    result[field] = .array(list.filter { !toDelete.contains($0) })
                }
                continue
            }
            if value.isNull {
                result[key] = nil
                continue
            }
            let fieldPath = path + [key]
            switch (result[key], value) {
            case (.object(let o)?, .object(let p)):
                result[key] = try mergeObject(o, p, path: fieldPath, schema: schema)
            case (.array(let o)?, .array(let p)):
                result[key] = .array(try mergeList(o, p, path: fieldPath, schema: schema))
            case (_, .object(let p)):
                // Nothing to merge into: the patch value (minus directives) becomes the field.
                result[key] = try mergeObject(JSONObject(), p, path: fieldPath, schema: schema)
            case (_, .array(let p)):
                result[key] = .array(try mergeList([], p, path: fieldPath, schema: schema))
            default:
                result[key] = value
            }
        }
        for (field, order) in orders {
            if let list = result[field]?.arrayValue {
                result[field] = .array(reorder(list, by: order, strategy: schema.strategy(forListAt: path + [field])))
            }
        }
        if let keep = patch[retainKeys] {
            guard let names = keep.arrayValue?.compactMap(\.stringValue) else { throw PatchError(.malformed, "$retainKeys must be a list of strings") }
            for key in result.keys where !names.contains(key) { result[key] = nil }
        }
        return .object(result)
    }

    static func mergeList(_ original: [JSON], _ patch: [JSON], path: [String], schema: StrategicMergeSchema) throws(PatchError) -> [JSON] {
        switch schema.strategy(forListAt: path) {
        case .replace:
            return try patch.map { (e: JSON) throws(PatchError) -> JSON in try stripDirectives(e) }
        case .mergePrimitives:
            var result = original
            for element in patch where !result.contains(element) { result.append(element) }
            return result
        case .mergeByKey(let key):
            // `{"$patch": "replace"}` as an element replaces the whole list with the other elements.
            if patch.contains(where: { $0[directive]?.stringValue == "replace" && $0.objectValue?.count == 1 }) {
                return try patch.filter { !($0[directive]?.stringValue == "replace" && $0.objectValue?.count == 1) }
                    .map { (e: JSON) throws(PatchError) -> JSON in try stripDirectives(e) }
            }
            var result = original
            for element in patch {
                guard case .object(let patchElement) = element else {
                    // Primitive elements in a keyed list: treat as a set.
                    if !result.contains(element) { result.append(element) }
                    continue
                }
                guard let keyValue = patchElement[key] else {
                    throw PatchError(.malformed, "map: \(element.jsonString) does not contain declared merge key: \(key)")
                }
                let index = result.firstIndex { $0[key] == keyValue }
                if patchElement[directive]?.stringValue == "delete" {
                    result.removeAll { $0[key] == keyValue }
                    continue
                }
                if let index, case .object(let existing) = result[index] {
                    if let merged = try mergeObject(existing, patchElement, path: path, schema: schema) {
                        result[index] = merged
                    } else {
                        result.remove(at: index)
                    }
                } else if let created = try mergeObject(JSONObject(), patchElement, path: path, schema: schema) {
                    result.append(created)
                }
            }
            return result
        }
    }

    /// Puts listed elements first in the given order, then the rest in their current order.
    static func reorder(_ list: [JSON], by order: [JSON], strategy: ListMergeStrategy) -> [JSON] {
        func identity(_ element: JSON) -> JSON {
            if case .mergeByKey(let key) = strategy, case .object(let o) = element { return o[key] ?? element }
            return element
        }
        var remaining = list
        var result: [JSON] = []
        for wanted in order {
            let wantedID = identity(wanted)
            if let i = remaining.firstIndex(where: { identity($0) == wantedID }) {
                result.append(remaining.remove(at: i))
            }
        }
        return result + remaining
    }

    /// Removes directive keys from a value the patch introduces wholesale.
    static func stripDirectives(_ value: JSON) throws(PatchError) -> JSON {
        switch value {
        case .object(let o):
            return .object(try stripDirectives(o))
        case .array(let a):
            return .array(try a.map { (e: JSON) throws(PatchError) -> JSON in try stripDirectives(e) })
        default:
            return value
        }
    }

    static func stripDirectives(_ object: JSONObject) throws(PatchError) -> JSONObject {
        var result = JSONObject()
        for (k, v) in object where !k.hasPrefix("$") {
            result[k] = try stripDirectives(v)
        }
        return result
    }
}
