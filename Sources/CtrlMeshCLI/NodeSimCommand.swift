import ArgumentParser
import KubeClient
import Logging
import OperatorRuntime
import SampleOperator

struct NodeSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node-sim",
        abstract: "Report every pod Running and Ready, as a kubelet would (kwok-style), for clusters that run no containers.")

    @Option(help: "Kubeconfig of the API server; else $KUBECONFIG, else in-cluster.")
    var kubeconfig: String?

    func run() async throws {
        let config = try ClientConfig.forCommand(kubeconfig: kubeconfig)
        let client = RESTClient(config: config, qps: 500, burst: 1000)
        let logger = Logger(label: "ctrlmesh.node-sim")
        let manager = Manager(client: client, logger: logger)
        _ = NodeSimulator(manager: manager)
        Console.line("ctrlmesh node-sim started against \(config.server)")
        try await manager.runUntilSignalled(logger: logger)
        await client.connection.shutdown()
    }
}
