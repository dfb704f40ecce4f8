import ArgumentParser
import Foundation
import KubeClient
import Logging
import MeshControl
import MeshCore
import OperatorRuntime
import ServiceLifecycle

extension ClientConfig {
    /// The config a subcommand's `--kubeconfig` names (else `$KUBECONFIG`, else in-cluster,
    /// else `~/.kube/config`); a problem becomes the one-line usage error.
    static func forCommand(kubeconfig: String?) throws -> ClientConfig {
        do {
            return try resolve(kubeconfig: kubeconfig)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

extension RESTClient {
    /// Runs a command's requests with a client for `--kubeconfig`, closed however they end.
    static func withCommandClient(kubeconfig: String?, _ body: (RESTClient) async throws -> Void) async throws {
        let client = RESTClient(config: try ClientConfig.forCommand(kubeconfig: kubeconfig), qps: nil)
        do {
            try await body(client)
        } catch {
            await client.connection.shutdown()
            throw error
        }
        await client.connection.shutdown()
    }
}

/// The arguments naming one mesh object (a ShardingConfig, a CircuitBreaker) and where it is.
struct MeshObjectOptions: ParsableArguments {
    @Argument(help: "Its name.")
    var name: String

    @Option(name: .shortAndLong, help: "Its namespace.")
    var namespace = "default"

    @Flag(help: "A KusionStack object (ctrlmesh.kusionstack.io).")
    var kusionstack = false

    @Option(help: "Kubeconfig of the API server.")
    var kubeconfig: String?

    var group: String { kusionstack ? MeshConfig.kusionGroup : MeshConfig.group }
}

extension Manager {
    /// Runs until SIGTERM or SIGINT, then stops gracefully (swift-service-lifecycle).
    func runUntilSignalled(logger: Logger) async throws {
        try await ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}

extension MutualTLSFiles {
    /// The mTLS files of three flags that go together (`flags` names them for the error); nil
    /// when none is given.
    static func fromFlags(certificate: String?, privateKey: String?, trustedCA: String?, flags: String) throws -> MutualTLSFiles? {
        let files = [certificate, privateKey, trustedCA]
        if files.allSatisfy({ $0 == nil }) { return nil }
        guard let certificate, let privateKey, let trustedCA else { throw ValidationError("\(flags) go together") }
        for file in [certificate, privateKey, trustedCA] where !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("cannot read \(file)")
        }
        return MutualTLSFiles(certificate: certificate, privateKey: privateKey, trustedCA: trustedCA)
    }
}

/// A command that ran and failed (not a usage mistake): one `Error:` line, no usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
