import KubeModel
import KubeYAML
import MeshCore

/// Owned when the first byte of the uid (or namespace) is even: a keep decision that depends
/// on what the filter read.
let keepHalf: @Sendable (ObjectIdentity) -> Bool = { identity in
    ((identity.uid.utf8.first ?? 0) ^ (identity.namespace.utf8.first ?? 0)) & 1 == 0
}

/// The streaming filters' common step.
protocol StreamingFilter {
    mutating func consume(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FilterError)
}

extension JSONListFilter: StreamingFilter {}
extension JSONWatchFilter: StreamingFilter {}
extension ProtobufListFilter: StreamingFilter {}
extension ProtobufWatchFilter: StreamingFilter {}

/// Feeds every chunk; false once the filter refuses the stream.
func feed<F: StreamingFilter>(_ filter: inout F, _ chunks: [[UInt8]], into out: inout [UInt8]) -> Bool {
    for chunk in chunks {
        let accepted: Bool = chunk.withUnsafeBytes { bytes in
            do throws(FilterError) {
                try filter.consume(bytes, into: &out)
                return true
            } catch {
                return false
            }
        }
        if !accepted { return false }
    }
    return true
}

extension Harness {
    /// The JSON parser: whatever parses writes back to a document that parses to the same value.
    static let json = Harness(name: "json") { input in
        guard let value = try? JSON.parse(input) else { return }
        let written = value.serialized()
        require((try? JSON.parse(written)) == value, "a parsed value must read back the same")
    }

    /// The streaming list filter, in chunks of the input's choosing: it never crashes, and a
    /// list it accepts in full yields JSON that parses.
    static let jsonListFilter = Harness(name: "json-list-filter") { input in
        var filter = JSONListFilter(keep: keepHalf)
        var out: [UInt8] = []
        guard feed(&filter, chunks(input), into: &out) else { return }
        guard (try? filter.finish()) != nil else { return }
        if (try? JSON.parse(Array(input.dropFirst()))) != nil {
            require((try? JSON.parse(out)) != nil, "a complete list must filter to JSON")
        }
    }

    static let jsonWatchFilter = Harness(name: "json-watch-filter") { input in
        var filter = JSONWatchFilter(bookmarks: input.first.map { $0 & 1 == 1 } ?? false, keep: keepHalf)
        var out: [UInt8] = []
        guard feed(&filter, chunks(input), into: &out) else { return }
    }

    /// The protobuf readers: wire fields, identities, enveloped objects and DeleteOptions.
    static let protobuf = Harness(name: "protobuf") { input in
        var reader = ProtobufReader(input[...])
        while !reader.atEnd { guard (try? reader.field()) != nil else { break } }
        _ = try? ProtobufIdentityReader.object(input[...])
        _ = try? ProtobufIdentityReader.envelope(input[...])
        if let decoded = try? KubernetesProtobuf.decode(input) {
            require((try? JSON.parse(decoded.serialized())) == decoded, "a decoded body must be JSON")
        }
        _ = DeleteOptions.decode(contentType: "application/vnd.kubernetes.protobuf", body: input)
    }

    static let protobufListFilter = Harness(name: "protobuf-list-filter") { input in
        var filter = ProtobufListFilter(keep: keepHalf)
        var out: [UInt8] = []
        guard feed(&filter, chunks(input), into: &out) else { return }
        if (try? filter.finish()) != nil {
            require(out.count == input.count - 1, "a protobuf list keeps its length when filtered")
        }
    }

    static let protobufWatchFilter = Harness(name: "protobuf-watch-filter") { input in
        var filter = ProtobufWatchFilter(bookmarks: true, keep: keepHalf)
        var out: [UInt8] = []
        guard feed(&filter, chunks(input), into: &out) else { return }
    }

    /// Label, field and shard selectors: a label selector written back parses to itself. And
    /// regular expressions: the input is a pattern and a text separated by a NUL, matched
    /// within the harness's time limit whatever the pattern.
    static let selectors = Harness(name: "selectors") { input in
        let parts = input.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        if let pattern = try? RegexPattern(String(decoding: parts[0], as: UTF8.self)) {
            _ = pattern.matches(String(decoding: parts.count > 1 ? parts[1] : [], as: UTF8.self))
        }
        let text = String(decoding: input, as: UTF8.self)
        if let selector = try? LabelSelector(parsing: text) {
            require((try? LabelSelector(parsing: selector.text)) == selector, "a label selector must read back the same: \(selector.text)")
            _ = selector.matches(["a": "b", "text": text])
        }
        _ = try? FieldSelector(parsing: text)
        if let shard = try? ShardSelector(parsing: text) {
            require((try? ShardSelector(parsing: shard.description)) == shard, "a shard selector must read back the same")
        }
        if let json = try? JSON.parse(input) { _ = try? LabelSelector(object: json) }
    }

    /// Request targets and their classification: what parses re-encodes to a target that
    /// parses and classifies the same (the proxy forwards the re-encoding).
    static let request = Harness(name: "request") { input in
        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        let method = methods[Int(input.first ?? 0) % methods.count]
        let raw = String(decoding: input.dropFirst(), as: UTF8.self)
        guard let target = try? RequestTarget.parse(raw) else { return }
        let again = try? RequestTarget.parse(target.encoded)
        require(again == target, "a target must re-encode to itself: \(raw)")
        require(RequestInfo.classify(method: method, target: target) == again.flatMap { RequestInfo.classify(method: method, target: $0) },
                "a re-encoded target must classify the same")
        _ = RequestClassifier.classify(method: method, target: raw)
        if let info = RequestInfo.classify(method: method, target: target) {
            require(Judgement(text: Judgement.resource(info).text) == .resource(info), "a judgement stamp must read back")
        }
    }

    /// The three patch kinds, bounded: the input is a document and a patch separated by a NUL.
    static let patch = Harness(name: "patch") { input in
        let parts = input.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let document = try? JSON.parse(parts[0]), let patch = try? JSON.parse(parts[1]) else { return }
        for result in [try? JSONPatch.apply(patch, to: document), MergePatch.apply(patch, to: document),
                       try? StrategicMergePatch.apply(patch, to: document)] {
            guard let result else { continue }
            var budget = 10_000_000
            require(result.measure(depthLimit: JSON.maxDepth + 1, budget: &budget) != nil, "a patch result must stay within the nesting limit")
        }
        for kind in [PatchReach.Kind.json, .merge, .strategic] {
            _ = PatchReach.mayChange(metadataField: "ownerReferences", patch: patch, kind: kind)
        }
    }

    /// Shard specs, ShardingConfigs and policies, read strictly from JSON: never a crash, and
    /// a spec that parses writes back to itself.
    static let config = Harness(name: "config") { input in
        guard let json = try? JSON.parse(input) else { return }
        if let spec = try? ShardSpec(json: json) {
            require((try? ShardSpec(json: spec.json)) == spec, "a spec must read back the same")
        }
        _ = try? MeshConfig(object: json)
        _ = try? PolicyDocument(object: json)
        _ = ObjectMetaCheck.decodeError(json)
        _ = RequestBody.read(contentType: "application/json", bytes: input)
    }

    /// YAML documents, bounded: never a crash, and what reads renders back to the same values
    /// (checked for every fourth input: rendering costs three times the reading).
    static let yaml = Harness(name: "yaml") { input in
        guard let documents = try? YAMLDocument.parseAll(String(decoding: input, as: UTF8.self)), input.count % 4 == 0 else { return }
        for document in documents where document.objectValue != nil {
            require((try? YAMLDocument.parse(YAMLDocument.render(document))) == document, "a YAML document must render back")
        }
    }
}
