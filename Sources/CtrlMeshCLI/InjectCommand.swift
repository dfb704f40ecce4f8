import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import MeshCore

struct InjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inject",
        abstract: "Add the ctrlmesh proxy to the pods of a manifest, offline (what the injection webhook does).",
        discussion: """
            Reads Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CloneSets from -f (YAML or JSON, \
            several documents allowed; - for stdin) and prints them with the proxy as a native sidecar and KUBECONFIG \
            pointing the operator at it. Other objects, and pods that already have the proxy, are printed unchanged.
            """)

    @Option(name: .shortAndLong, help: "Manifest file, or - for standard input.")
    var filename: String

    @Option(help: "Proxy image.")
    var image = "ghcr.io/ctrlmesh/ctrlmesh:latest"

    @Option(help: "Manager addresses the proxies connect to, host:port[,host:port].")
    var manager = "ctrlmesh-manager.ctrlmesh-system.svc:5450"

    func run() throws {
        let text: String
        if filename == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: filename) else {
                throw ValidationError("cannot read \(filename)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let documents: [JSON]
        do {
            documents = try YAMLDocument.parseAll(text)
        } catch {
            throw ValidationError("\(filename): \(error)")
        }
        let injection = SidecarInjection(image: image, managers: manager)
        var injected = 0
        var output: [String] = []
        for document in documents {
            if let changed = injection.inject(object: document) {
                injected += 1
                output.append(YAMLDocument.render(changed))
            } else {
                output.append(YAMLDocument.render(document))
            }
        }
        print(output.joined(separator: "---\n"), terminator: "")
        Console.error("ctrlmesh inject: added the proxy to \(injected) of \(documents.count) objects")
    }
}
