import Foundation
import KubeClient
import KubeYAML
import SampleOperator
import Testing

@Suite struct CloneSetCRDTests {
    /// The CRD the demo installs is the one shipped in manifests/samples, byte for byte.
    @Test func embeddedCRDMatchesTheManifest() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let manifest = try String(contentsOf: root.appendingPathComponent("manifests/samples/cloneset-crd.yaml"), encoding: .utf8)
        #expect(CloneSetCRD.yaml + "\n" == manifest)
        let crd = try YAMLDocument.parse(CloneSetCRD.yaml)
        #expect(crd["spec"]?["names"]?["kind"] == "CloneSet")
    }
}
