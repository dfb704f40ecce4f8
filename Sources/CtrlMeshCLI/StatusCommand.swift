import ArgumentParser
import KubeClient
import KubeModel
import MeshCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every ShardingConfig's shards: members, leader, slots or namespaces, epoch and acknowledgement.")

    @Option(help: "Kubeconfig of the API server.")
    var kubeconfig: String?

    @Option(name: .shortAndLong, help: "Only this namespace.")
    var namespace: String?

    func run() async throws {
        try await RESTClient.withCommandClient(kubeconfig: kubeconfig) { try await show($0) }
    }

    func show(_ client: RESTClient) async throws {
        var configs: [JSON] = []
        var reachedAny = false
        for resource in [MeshConfig.resource, MeshConfig.kusionResource] {
            do {
                configs += try await client.list(resource, namespace: namespace).items
                reachedAny = true
            } catch let error as StatusError where error.reason == .notFound {
                continue  // that group's CRD is not installed
            } catch {
                throw ValidationError("cannot list ShardingConfigs: \(error)")
            }
        }
        if !reachedAny { throw ValidationError("no ShardingConfig CRD is installed (apply manifests/crds first)") }
        if configs.isEmpty {
            Console.line("no ShardingConfigs\(namespace.map { " in \($0)" } ?? "")")
            return
        }
        Console.line(configs.map { MeshTable.render($0) }.joined(separator: "\n\n"))
    }
}
