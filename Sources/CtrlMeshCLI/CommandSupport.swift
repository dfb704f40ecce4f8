import ArgumentParser
import Foundation
import KubeClient
import Logging
import MeshControl
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
