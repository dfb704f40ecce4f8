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

        @OptionGroup var target: MeshObjectOptions

        func run() async throws {
            try await RESTClient.withCommandClient(kubeconfig: target.kubeconfig) { try await reset($0) }
        }

        func reset(_ client: RESTClient) async throws {
            let (namespace, name) = (target.namespace, target.name)
            let resource = PolicyDocument.resource(group: target.group, kind: .circuitBreaker)
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
