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
        guard let merged = try mergeObject(original.objectValue ?? JSONObject(), patchObject, path: [], schema: schema) else {
            // Deleting the object is what DELETE is for; a patch that would leave nothing is refused.
            throw PatchError(.failed, "a strategic merge patch cannot delete the whole object ($patch: delete at the top level)")
        }
        return merged
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
        // Removals are applied together: one at a time, each would cost the object's size.
        var removed = Set<String>()
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
                    let deleted = Set(toDelete.map(JSONValueKey.init))
                    result[field] = .array(list.filter { !deleted.contains(JSONValueKey($0)) })
                }
                continue
            }
            if value.isNull {
                removed.insert(key)
                continue
            }
            let fieldPath = path + [key]
            switch (result[key], value) {
            case (.object(let o)?, .object(let p)):
                if let merged = try mergeObject(o, p, path: fieldPath, schema: schema) { result[key] = merged } else { removed.insert(key) }
            case (.array(let o)?, .array(let p)):
                result[key] = .array(try mergeList(o, p, path: fieldPath, schema: schema))
            case (_, .object(let p)):
                // Nothing to merge into: the patch value (minus directives) becomes the field.
                if let merged = try mergeObject(JSONObject(), p, path: fieldPath, schema: schema) { result[key] = merged } else { removed.insert(key) }
            case (_, .array(let p)):
                result[key] = .array(try mergeList([], p, path: fieldPath, schema: schema))
            default:
                result[key] = value
            }
        }
        result.removeKeys(removed)
        for (field, order) in orders {
            if let list = result[field]?.arrayValue {
                result[field] = .array(reorder(list, by: order, strategy: schema.strategy(forListAt: path + [field])))
            }
        }
        if let keep = patch[retainKeys] {
            guard let names = keep.arrayValue?.compactMap(\.stringValue) else { throw PatchError(.malformed, "$retainKeys must be a list of strings") }
            let kept = Set(names)
            result.removeKeys(Set(result.keys.filter { !kept.contains($0) }))
        }
        return .object(result)
    }

    static func mergeList(_ original: [JSON], _ patch: [JSON], path: [String], schema: StrategicMergeSchema) throws(PatchError) -> [JSON] {
        switch schema.strategy(forListAt: path) {
        case .replace:
            return try patch.map { (e: JSON) throws(PatchError) -> JSON in try stripDirectives(e) }
        case .mergePrimitives:
            var result = original
            var present = Set(original.map(JSONValueKey.init))
            for element in patch where present.insert(JSONValueKey(element)).inserted { result.append(element) }
            return result
        case .mergeByKey(let key):
            // `{"$patch": "replace"}` as an element replaces the whole list with the other elements.
            if patch.contains(where: { $0[directive]?.stringValue == "replace" && $0.objectValue?.count == 1 }) {
                return try patch.filter { !($0[directive]?.stringValue == "replace" && $0.objectValue?.count == 1) }
                    .map { (e: JSON) throws(PatchError) -> JSON in try stripDirectives(e) }
            }
            // Elements are found through an index of their merge-key values (and primitives
            // through a set), so a large list and a large patch merge in linear time.
            var result: [JSON?] = original
            var positions: [JSONValueKey: [Int]] = [:]
            var primitives = Set<JSONValueKey>()
            for (i, element) in original.enumerated() {
                if case .object(let o) = element, let value = o[key] {
                    positions[JSONValueKey(value), default: []].append(i)
                } else if element.objectValue == nil {
                    primitives.insert(JSONValueKey(element))
                }
            }
            for element in patch {
                guard case .object(let patchElement) = element else {
                    // Primitive elements in a keyed list: treat as a set.
                    if primitives.insert(JSONValueKey(element)).inserted { result.append(element) }
                    continue
                }
                guard let keyValue = patchElement[key] else {
                    throw PatchError(.malformed, "map: \(element.jsonString.prefix(256)) does not contain declared merge key: \(key)")
                }
                let valueKey = JSONValueKey(keyValue)
                if patchElement[directive]?.stringValue == "delete" {
                    for i in positions[valueKey] ?? [] { result[i] = nil }
                    positions[valueKey] = nil
                    continue
                }
                if let index = positions[valueKey]?.first, case .object(let existing)? = result[index] {
                    if let merged = try mergeObject(existing, patchElement, path: path, schema: schema) {
                        result[index] = merged
                    } else {
                        result[index] = nil
                        positions[valueKey]?.removeFirst()
                    }
                } else if let created = try mergeObject(JSONObject(), patchElement, path: path, schema: schema) {
                    positions[valueKey, default: []].append(result.count)
                    result.append(created)
                }
            }
            return result.compactMap { $0 }
        }
    }

    /// Puts listed elements first in the given order, then the rest in their current order.
    static func reorder(_ list: [JSON], by order: [JSON], strategy: ListMergeStrategy) -> [JSON] {
        func identity(_ element: JSON) -> JSON {
            if case .mergeByKey(let key) = strategy, case .object(let o) = element { return o[key] ?? element }
            return element
        }
        var positions: [JSONValueKey: [Int]] = [:]
        for (i, element) in list.enumerated() { positions[JSONValueKey(identity(element)), default: []].append(i) }
        var taken = Set<Int>()
        var result: [JSON] = []
        for wanted in order {
            let wantedID = JSONValueKey(identity(wanted))
            if let i = positions[wantedID]?.first(where: { !taken.contains($0) }) {
                taken.insert(i)
                result.append(list[i])
            }
        }
        return result + list.indices.filter { !taken.contains($0) }.map { list[$0] }
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
