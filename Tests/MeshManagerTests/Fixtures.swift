import Foundation
import KubeClient
import KubeModel
import KubeYAML

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func documents(_ path: String) throws -> [JSON] {
        try YAMLDocument.parseAll(try text(path))
    }
}
