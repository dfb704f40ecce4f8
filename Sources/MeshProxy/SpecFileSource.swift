import Foundation
import KubeClient
import KubeModel
import KubeYAML
import Logging
import MeshCore
import Synchronization

/// The shard spec from a file (YAML or JSON), re-read when its contents change. A file that
/// is missing or invalid leaves the last good spec in force (or none: fail closed), and the
/// error is reported on the status endpoint. So is a spec whose epoch is older than the one
/// applied.
public final class SpecFileSource: Sendable {
    public let path: String
    let lastError = Mutex<String?>(nil)

    public init(path: String) {
        self.path = path
    }

    public var error: String? { lastError.withLock { $0 } }

    /// Parses spec text.
    public static func parse(_ text: String) throws -> ShardSpec {
        try ShardSpec(json: try YAMLDocument.parse(text))
    }

    /// Polls the file and applies each new spec; returns when cancelled.
    public func run(state: ShardState, interval: Duration = .milliseconds(200), logger: Logger) async {
        var lastContents: Data?
        while !Task.isCancelled {
            let contents = FileManager.default.contents(atPath: path)
            if let contents, contents != lastContents {
                lastContents = contents
                do {
                    let spec = try SpecFileSource.parse(String(decoding: contents, as: UTF8.self))
                    if let applied = state.appliedEpoch, spec.epoch < applied {
                        // Epochs only grow: an older one is a stale copy of the file, not a handover.
                        throw SpecFileError(message: "epoch \(spec.epoch) is older than the applied epoch \(applied)")
                    }
                    lastError.withLock { $0 = nil }
                    if spec != state.spec || state.appliedEpoch != spec.epoch {
                        logger.info("applying shard spec \(spec.shard) epoch \(spec.epoch)")
                        await state.apply(spec)
                        logger.info("shard spec \(spec.shard) epoch \(spec.epoch) applied")
                    }
                } catch {
                    let message = "spec file \(path): \(error)"
                    lastError.withLock { $0 = message }
                    logger.error("\(message); keeping the spec in force")
                }
            } else if contents == nil, lastContents != nil || error == nil {
                lastContents = nil
                lastError.withLock { $0 = "spec file \(path) does not exist; keeping the spec in force" }
            }
            try? await Task.sleep(for: interval)
        }
    }
}

struct SpecFileError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
