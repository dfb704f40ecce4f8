import ArgumentParser
import KubeClient
import Logging
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

extension Manager {
    /// Runs until SIGTERM or SIGINT, then stops gracefully (swift-service-lifecycle).
    func runUntilSignalled(logger: Logger) async throws {
        try await ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}
