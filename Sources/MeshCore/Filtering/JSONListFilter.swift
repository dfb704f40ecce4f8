/// Filters a JSON list body (`{"kind":"...List","metadata":{...},"items":[...]}`, or a Table's
/// `rows`) while it streams: bytes outside the array are copied as they come, each item is held
/// only until its closing brace and then kept (byte for byte) or dropped. Memory is one item,
/// whatever the list's size.
///
/// When the proxy sent its own shard selector (`trustsServerShardInfo`) and the list's metadata
/// carries `shardInfo`, the API server applied that selector itself and the items pass
/// unjudged. A selector the client chose is never trusted this way.
public struct JSONListFilter: Sendable {
    enum Mode {
        /// Copying structure, looking for the top-level `items` or `rows` key.
        case structure
        /// After `"items":`, before its `[`.
        case awaitingArray
        /// Inside the array, between elements.
        case betweenItems
        /// Collecting one element.
        case inItem
    }

    let keep: @Sendable (ObjectIdentity) -> Bool
    let maxItemBytes: Int
    /// The fields the keep rule reads.
    let fields: ObjectIdentity.Fields
    let trustsServerShardInfo: Bool
    var mode = Mode.structure

    // Structure tokenizer (outside the array).
    var depth = 0
    var started = false
    var inString = false
    var escaped = false
    var captured: [UInt8] = []
    var capturing = false
    var lastString: String?
    var topLevelKey: String?
    var arrayIsRows = false
    /// Whether the top-level `items` (or `rows`) key was seen: a body without one is no list.
    var sawItems = false

    // The element being collected.
    var item: [UInt8] = []
    var framing = JSONFraming()

    /// What the list's metadata said, once it has streamed past.
    public private(set) var listResourceVersion: String?
    public private(set) var continueToken: String?
    var capturingMeta: String?

    public private(set) var serverFiltered = false
    public private(set) var kept = 0
    public private(set) var dropped = 0

    public init(maxItemBytes: Int = 64 << 20, fields: ObjectIdentity.Fields = .all, trustsServerShardInfo: Bool = false,
                keep: @escaping @Sendable (ObjectIdentity) -> Bool) {
        self.keep = keep
        self.maxItemBytes = maxItemBytes
        self.fields = fields.subtracting(.type)
        self.trustsServerShardInfo = trustsServerShardInfo
    }

    /// Filters the next chunk of the body, appending what passes to `output`.
    public mutating func consume(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FilterError) {
        let bytes = chunk.bindMemory(to: UInt8.self)
        var i = 0
        while i < bytes.count {
            switch mode {
            case .structure:
                let b = bytes[i]
                i += 1
                output.append(b)
                structureByte(b)
            case .awaitingArray:
                let b = bytes[i]
                switch b {
                case 0x20, 0x0A, 0x0D, 0x09:
                    output.append(b)
                    i += 1
                case UInt8(ascii: "["):
                    output.append(b)
                    i += 1
                    depth += 1
                    mode = .betweenItems
                default:
                    mode = .structure  // `null` or anything else: not a list to filter
                }
            case .betweenItems:
                let b = bytes[i]
                switch b {
                case 0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: ","):
                    i += 1
                case UInt8(ascii: "]"):
                    output.append(b)
                    i += 1
                    depth -= 1
                    mode = .structure
                case UInt8(ascii: "{"):
                    item.removeAll(keepingCapacity: true)
                    framing = JSONFraming()
                    mode = .inItem
                default:
                    throw FilterError.malformed("list element is not an object", offset: i)
                }
            case .inItem:
                let start = i
                let complete = framing.advance(bytes, from: start, end: &i)
                if complete, item.isEmpty {
                    // The whole item is in this chunk: judge it in place, without a copy.
                    try finishItem(UnsafeBufferPointer(rebasing: bytes[start..<i]), into: &output)
                    mode = .betweenItems
                    continue
                }
                item.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                if item.count > maxItemBytes { throw FilterError.tooLarge(maxItemBytes) }
                if complete {
                    let collected = item
                    try collected.withUnsafeBufferPointer { (buffer) throws(FilterError) in try finishItem(buffer, into: &output) }
                    mode = .betweenItems
                }
            }
        }
    }

    /// Checks that the body ended where a complete list ends, and that it was a list: an
    /// answer with no `items` (or `rows`) is not passed on as one, whatever it holds.
    public func finish() throws(FilterError) {
        guard mode == .structure, started, depth == 0, !inString else {
            throw FilterError.truncated
        }
        guard sawItems else { throw FilterError.malformed("the answer to a list has no items", offset: 0) }
    }

    mutating func finishItem(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) throws(FilterError) {
        let identity = arrayIsRows ? try JSONIdentityReader.tableRow(bytes)
            : try JSONIdentityReader.object(bytes, fields: fields)
        if serverFiltered || keep(identity) {
            if kept > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: bytes)
            kept += 1
        } else {
            dropped += 1
        }
    }

    /// Tracks depth and keys at the top two levels, to find the array and `metadata.shardInfo`.
    mutating func structureByte(_ b: UInt8) {
        if inString {
            if escaped {
                escaped = false
            } else if b == 0x5C {
                escaped = true
            } else if b == 0x22 {
                inString = false
                if capturing {
                    let text = captured.contains(0x5C)
                        ? (captured.withUnsafeBufferPointer { try? JSONByteScanner.unescape($0, offset: 0) } ?? "")
                        : String(decoding: captured, as: UTF8.self)
                    lastString = text
                    if let field = capturingMeta {
                        if field == "resourceVersion" { listResourceVersion = text } else { continueToken = text }
                        capturingMeta = nil
                    }
                }
                capturing = false
                return
            }
            if capturing {
                captured.append(b)
                if captured.count > 64, capturingMeta == nil { capturing = false }
            }
            return
        }
        switch b {
        case 0x22:
            inString = true
            lastString = nil
            capturing = depth <= 2 || capturingMeta != nil
            captured.removeAll(keepingCapacity: true)
        case UInt8(ascii: ":"):
            if let key = lastString {
                if depth == 1 {
                    topLevelKey = key
                    if key == "items" || key == "rows" {
                        sawItems = true
                        arrayIsRows = key == "rows"
                        mode = .awaitingArray
                    }
                } else if depth == 2, topLevelKey == "metadata" {
                    if key == "shardInfo", trustsServerShardInfo { serverFiltered = true }
                    if key == "resourceVersion" || key == "continue" { capturingMeta = key }
                }
            }
            lastString = nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            started = true
            lastString = nil
            capturingMeta = nil
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
            lastString = nil
        case UInt8(ascii: ","):
            lastString = nil
        default:
            break
        }
    }
}
