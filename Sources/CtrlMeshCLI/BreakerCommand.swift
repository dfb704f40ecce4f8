import ArgumentParser
import KubeClient
import KubeModel
import MeshCore

struct BreakerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breaker",
        abstract: "Operate CircuitBreakers.",
        subcommands: [Reset.self])

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close every open breaker of a CircuitBreaker on every pod it selects.",
            discussion: "Sets the \(PolicyDocument.resetAnnotation) annotation to the current time; the mesh manager sends the change to the proxies, which close the breakers.")

        @Argument(help: "The CircuitBreaker's name.")
        var name: String

        @Option(name: .shortAndLong, help: "Its namespace.")
        var namespace = "default"

        @Flag(help: "A KusionStack CircuitBreaker (ctrlmesh.kusionstack.io).")
        var kusionstack = false

        @Option(help: "Kubeconfig of the API server.")
        var kubeconfig: String?

        func run() async throws {
            let client = RESTClient(config: try ClientConfig.forCommand(kubeconfig: kubeconfig), qps: nil)
            do {
                try await reset(client)
            } catch {
                await client.connection.shutdown()
                throw error
            }
            await client.connection.shutdown()
        }

        func reset(_ client: RESTClient) async throws {
            let resource = PolicyDocument.resource(group: kusionstack ? MeshConfig.kusionGroup : MeshConfig.group, kind: .circuitBreaker)
            let stamp = Timestamp.microTime(.now)
            do {
                _ = try await client.patch(resource, namespace: namespace, name: name, type: .merge,
                                           ["metadata": ["annotations": [PolicyDocument.resetAnnotation: .string(stamp)]]])
            } catch let error as StatusError {
                throw CommandFailure("cannot reset CircuitBreaker \(namespace)/\(name): \(error.message)")
            }
            Console.line("circuitbreaker \(namespace)/\(name) reset at \(stamp)")
        }
    }
}
