@testable import KubeClient
import Foundation
import KubeModel
import KubeYAML
import Testing

@Suite struct ClientConfigTests {
    func write(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("config").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsTheCurrentContext() throws {
        let path = try write("""
            apiVersion: v1
            kind: Config
            current-context: two
            clusters:
            - name: c1
              cluster: {server: "http://one:1"}
            - name: c2
              cluster: {server: "https://two:2/", insecure-skip-tls-verify: true}
            contexts:
            - {name: one, context: {cluster: c1, user: u1}}
            - {name: two, context: {cluster: c2, user: u2, namespace: team}}
            users:
            - {name: u1, user: {token: t1}}
            - {name: u2, user: {tokenFile: token}}
            """)
        try "  rotated-1\n".write(toFile: (path as NSString).deletingLastPathComponent + "/token", atomically: true, encoding: .utf8)
        let two = try ClientConfig.load(kubeconfigPath: path)
        #expect(two.server == "https://two:2" && two.namespace == "team" && two.tls != nil)
        #expect(two.credentials.authorizationHeader() == "Bearer rotated-1")
        let one = try ClientConfig.load(kubeconfigPath: path, context: "one")
        #expect(one.server == "http://one:1" && one.tls == nil && one.credentials.authorizationHeader() == "Bearer t1")
    }

    @Test func tokenFilesAreReReadAfterAMinute() throws {
        let path = try write("first")
        let file = TokenFile(path: path)
        let now = Date()
        #expect(file.token(now: now) == "first")
        try "second".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(file.token(now: now.addingTimeInterval(30)) == "first")
        #expect(file.token(now: now.addingTimeInterval(61)) == "second")
    }

    @Test(arguments: [
        ("current-context: x\ncontexts: []\n", "no context \"x\""),
        ("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n", "has no server"),
        ("clusters: [\n", "invalid YAML"),
        ("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://a', certificate-authority-data: '!!'}}]\n", "not base64"),
    ])
    func explainsBadKubeconfigs(_ text: String, _ message: String) throws {
        let path = try write(text)
        #expect { try ClientConfig.load(kubeconfigPath: path) } throws: { "\($0)".contains(message) }
    }

    @Test func yamlScalarsBecomeJSONTypes() throws {
        let json = try YAMLDocument.parse("a: 1\nb: true\nc: \"1\"\nd: ~\ne: [x, 2.5]\n")
        #expect(json == ["a": 1, "b": true, "c": "1", "d": .null, "e": ["x", .number("2.5")]])
    }
}
