import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import KubeYAML
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

    @Option(help: "The CA (PEM file) of the manager's certificate (ca.crt of the Secret ctrlmesh-webhook-tls), which the proxies trust. Without it they cannot reach the manager.")
    var managerCA: String?

    func run() throws {
        let text: String
        if filename == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: filename) else {
                throw CommandFailure("cannot read \(filename)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let documents: [JSON]
        do {
            documents = try YAMLDocument.parseAll(text)
        } catch {
            throw CommandFailure("\(filename): \(error)")
        }
        var injection = SidecarInjection(image: image, managers: manager)
        if let managerCA {
            guard let pem = FileManager.default.contents(atPath: managerCA).flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw CommandFailure("cannot read \(managerCA)")
            }
            injection.managerCAPEM = pem
        }
        var injected = 0
        var output: [String] = []
        // Every document must be an object we can read: one that is not is an error, never
        // dropped or passed over in silence.
        for (i, document) in documents.enumerated() {
            let place = "\(filename): document \(i + 1)"
            guard case .object = document, let kind = document["kind"]?.stringValue, !kind.isEmpty,
                  document["apiVersion"]?.stringValue?.isEmpty == false else {
                throw CommandFailure("\(place) is not a Kubernetes object (it needs apiVersion and kind)")
            }
            if kind.hasSuffix("List") {
                throw CommandFailure("\(place) is a \(kind); give its items as separate documents")
            }
            if let path = SidecarInjection.podSpecPath(kind: kind), document.value(at: path + ["containers"])?.arrayValue == nil {
                throw CommandFailure("\(place) (\(kind) \(document.name ?? "")) has no \(path.joined(separator: ".")).containers list")
            }
            if let changed = injection.inject(object: document) {
                injected += 1
                output.append(YAMLDocument.render(changed))
            } else {
                output.append(YAMLDocument.render(document))
            }
        }
        print(output.joined(separator: "---\n"), terminator: "")
        Console.error("ctrlmesh inject: added the proxy to \(injected) of \(documents.count) objects"
                      + (injected > 0 && managerCA == nil ? "; without --manager-ca they have no CA to trust the manager with, and do not start" : ""))
    }
}
