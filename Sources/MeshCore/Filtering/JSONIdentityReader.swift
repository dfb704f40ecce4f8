/// Reads an `ObjectIdentity` from the JSON bytes of an object, a Table row or a watch event.
public enum JSONIdentityReader {
    /// An object: `apiVersion`, `kind` and the identity fields of `metadata`. A Table (what
    /// kubectl asks for) is identified by its first row's object.
    /// Without `.type` (list items, which need no bookmark) reading stops after `metadata`,
    /// so the bulk of the object (spec, status, data) is never scanned twice.
    public static func object(_ bytes: UnsafeBufferPointer<UInt8>, fields: ObjectIdentity.Fields = .all) throws(FilterError) -> ObjectIdentity {
        var scanner = JSONByteScanner(bytes)
        return try readObject(&scanner, fields: fields)
    }

    /// A Table row: the identity of its `object`.
    public static func tableRow(_ bytes: UnsafeBufferPointer<UInt8>) throws(FilterError) -> ObjectIdentity {
        var scanner = JSONByteScanner(bytes)
        var identity = ObjectIdentity()
        try scanner.forEachMember { (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) in
            if key == "object", try s.peek() == UInt8(ascii: "{") { identity = try readObject(&s, mayStop: false) } else { try s.skipValue() }
        }
        return identity
    }

    /// A watch event: its `type` and the identity of its `object`.
    public static func event(_ bytes: UnsafeBufferPointer<UInt8>) throws(FilterError) -> (type: String, object: ObjectIdentity) {
        var scanner = JSONByteScanner(bytes)
        var type = ""
        var identity = ObjectIdentity()
        try scanner.forEachMemberUntil({ (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) -> Bool in
            switch key {
            case "type": type = try s.readOptionalString() ?? ""
            case "object" where try s.peek() == UInt8(ascii: "{"):
                // With the type known, nothing after the object's metadata is needed.
                identity = try readObject(&s, mayStop: !type.isEmpty)
                return !type.isEmpty
            default: try s.skipValue()
            }
            return false
        })
        return (type, identity)
    }

    /// Reads an object's identity; stops after `metadata` once nothing else is needed (the
    /// cursor is then inside the object: only top-level readers may stop).
    static func readObject(_ s: inout JSONByteScanner, fields: ObjectIdentity.Fields = .all,
                           mayStop: Bool = true) throws(FilterError) -> ObjectIdentity {
        var identity = ObjectIdentity()
        var firstRow: ObjectIdentity?
        try s.forEachMemberUntil({ (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) -> Bool in
            switch key {
            case "apiVersion": identity.apiVersion = try s.readOptionalString() ?? ""
            case "kind": identity.kind = try s.readOptionalString() ?? ""
            case "metadata" where try s.peek() == UInt8(ascii: "{"):
                try readMetadata(&s, into: &identity, fields: fields)
                let typeKnown = !fields.contains(.type) || (!identity.kind.isEmpty && !identity.apiVersion.isEmpty)
                return mayStop && typeKnown && identity.kind != "Table"
            case "rows" where try s.peek() == UInt8(ascii: "["):
                try s.forEachElement { (s: inout JSONByteScanner) throws(FilterError) in
                    guard firstRow == nil, try s.peek() == UInt8(ascii: "{") else { try s.skipValue(); return }
                    var row = ObjectIdentity()
                    try s.forEachMember { (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) in
                        if key == "object", try s.peek() == UInt8(ascii: "{") { row = try readObject(&s, mayStop: false) } else { try s.skipValue() }
                    }
                    firstRow = row
                }
            default: try s.skipValue()
            }
            return false
        })
        if identity.kind == "Table", var row = firstRow {
            // Keep the Table's own resourceVersion for bookmarks.
            row.apiVersion = identity.apiVersion
            row.kind = identity.kind
            if row.resourceVersion.isEmpty { row.resourceVersion = identity.resourceVersion }
            return row
        }
        return identity
    }

    static func readMetadata(_ s: inout JSONByteScanner, into identity: inout ObjectIdentity,
                             fields: ObjectIdentity.Fields) throws(FilterError) {
        try s.forEachMember { (s: inout JSONByteScanner, key: JSONKey) throws(FilterError) in
            switch key {
            case "name" where fields.contains(.name): identity.name = try s.readOptionalString() ?? ""
            case "namespace" where fields.contains(.namespace): identity.namespace = try s.readOptionalString() ?? ""
            case "uid" where fields.contains(.uid): identity.uid = try s.readOptionalString() ?? ""
            case "resourceVersion" where fields.contains(.resourceVersion): identity.resourceVersion = try s.readOptionalString() ?? ""
            case "labels" where fields.contains(.labels):
                guard try s.peek() == UInt8(ascii: "{") else { try s.skipValue(); return }
                try s.forEachMember { (s: inout JSONByteScanner, label: JSONKey) throws(FilterError) in
                    if let value = try s.readOptionalString() { identity.labels[label.string] = value }
                }
            case "ownerReferences" where fields.contains(.controller):
                guard try s.peek() == UInt8(ascii: "[") else { try s.skipValue(); return }
                try s.forEachElement { (s: inout JSONByteScanner) throws(FilterError) in
                    guard try s.peek() == UInt8(ascii: "{") else { try s.skipValue(); return }
                    var uid: String?
                    var controller = false
                    try s.forEachMember { (s: inout JSONByteScanner, field: JSONKey) throws(FilterError) in
                        switch field {
                        case "uid": uid = try s.readOptionalString()
                        case "controller": controller = try s.readTrue()
                        default: try s.skipValue()
                        }
                    }
                    if controller {
                        identity.controllers += 1
                        if identity.controllerUID == nil { identity.controllerUID = uid }
                    }
                }
            default: try s.skipValue()
            }
        }
    }
}
