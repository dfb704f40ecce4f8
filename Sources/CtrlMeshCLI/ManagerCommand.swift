import ArgumentParser
import Foundation
import KubeClient
import Logging
import MeshControl
import MeshCore
import MeshManager

struct ManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manager",
        abstract: "Run the mesh manager: assigns shards to operator pods and hands them over safely.",
        discussion: """
            Proxies connect to --listen (gRPC). Replicas elect a leader on the Lease --namespace/ctrlmesh-manager; \
            only the leader plans. With --webhook-listen the replica serves the ShardingConfig validation and pod \
            injection webhooks over HTTPS with a certificate it generates; --webhook-url registers them with the API server.
            """)

    @Option(help: "Kubeconfig of the API server; in-cluster config when absent and running in a pod.")
    var kubeconfig: String?

    @Option(help: "Address proxies connect to (gRPC), host:port.")
    var listen = ListenAddress(host: "127.0.0.1", port: 5450)

    @Option(help: "Certificate (PEM) for the proxies' endpoint: with it the endpoint speaks mTLS (needs --grpc-tls-key and --grpc-client-ca).")
    var grpcTLSCert: String?

    @Option(help: "The private key (PEM) of --grpc-tls-cert.")
    var grpcTLSKey: String?

    @Option(help: "CA (PEM) the proxies' client certificates must be signed by.")
    var grpcClientCA: String?

    @Option(help: "Address for the admission webhooks (HTTPS), host:port.")
    var webhookListen: ListenAddress?

    @Option(help: "URL the API server reaches the webhooks at; registers the webhook configurations with the shared CA bundle.")
    var webhookURL: String?

    @Option(help: "Seconds a webhook certificate is valid; renewed with a third left (shared by all replicas through a Secret).")
    var webhookCertValidity = 365 * 86400

    @Option(help: "Proxy image the injection webhook adds; without it pods are not injected.")
    var injectImage: String?

    @Option(help: "Manager addresses injected proxies connect to (default: this replica's --listen).")
    var injectManagers: String?

    @Option(help: "This replica's identity in the election (default $POD_NAME, else the host name).")
    var identity: String?

    @Option(help: "Namespace of the manager's Lease (default $POD_NAMESPACE, else ctrlmesh-system).")
    var namespace: String?

    @Option(help: "Election timings in seconds: lease,renew-deadline,retry.")
    var electionTimings = "15,10,2"

    @Option(help: "Seconds added to a member lease's duration before its keys move elsewhere.")
    var memberSkew = 2

    @Flag(help: "Serve proxies in plaintext (a local run). Otherwise the endpoint speaks TLS: with --grpc-tls-cert (mTLS), else with the webhook certificate (--webhook-listen), which injected proxies are given to trust.")
    var grpcPlaintext = false

    @Flag(help: "Accept proxy sessions that present no service-account token (local runs only): by default a session must prove, through a TokenReview, the pod it speaks for.")
    var trustSessions = false

    @Flag(help: "Register the write fence webhook (/fence-writes, with --webhook-url): a real kube-apiserver then refuses a proxy's write stamped with an epoch older than its key's grant. The embedded API server fences natively.")
    var fenceWebhook = false

    @Option(help: "Seconds of silence on a proxy session (HTTP/2 keepalive) before a ping, and again before the connection is closed.")
    var keepalive = 2

    func validate() throws {
        let parts = electionTimings.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }), parts[1] < parts[0], parts[2] < parts[1] else {
            throw ValidationError("--election-timings: expected lease,renew-deadline,retry in seconds, decreasing")
        }
        if webhookURL != nil, webhookListen == nil { throw ValidationError("--webhook-url needs --webhook-listen") }
        if injectImage != nil, webhookListen == nil { throw ValidationError("--inject-image needs --webhook-listen") }
        if memberSkew < 0 { throw ValidationError("--member-skew must not be negative") }
        if fenceWebhook, webhookURL == nil { throw ValidationError("--fence-webhook needs --webhook-url") }
        if keepalive < 1 { throw ValidationError("--keepalive must be at least 1 second") }
        if grpcPlaintext, grpcTLSCert != nil { throw ValidationError("--grpc-plaintext and --grpc-tls-cert contradict each other") }
        if !grpcPlaintext, grpcTLSCert == nil, webhookListen == nil {
            throw ValidationError("the proxies' endpoint needs TLS: --grpc-tls-cert, or --webhook-listen (its certificate serves both), or --grpc-plaintext for a local run")
        }
        if webhookCertValidity < 30 { throw ValidationError("--webhook-cert-validity must be at least 30 seconds") }
        _ = try grpcTLS()
    }

    func grpcTLS() throws -> MutualTLSFiles? {
        try MutualTLSFiles.fromFlags(certificate: grpcTLSCert, privateKey: grpcTLSKey, trustedCA: grpcClientCA,
                                     flags: "--grpc-tls-cert, --grpc-tls-key and --grpc-client-ca")
    }

    func run() async throws {
        let config = try ClientConfig.forCommand(kubeconfig: kubeconfig)
        let environment = ProcessInfo.processInfo.environment
        var options = ManagerRuntime.Options(grpcHost: listen.host, grpcPort: listen.port, webhookHost: webhookListen?.host,
                                             webhookPort: webhookListen?.port,
                                             identity: identity ?? environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName,
                                             namespace: namespace ?? environment["POD_NAMESPACE"] ?? "ctrlmesh-system")
        let parts = electionTimings.split(separator: ",").compactMap { Int($0) }
        options.election = (.seconds(parts[0]), .seconds(parts[1]), .seconds(parts[2]))
        options.memberSkew = .seconds(memberSkew)
        options.grpcTLS = try grpcTLS()
        if let injectImage {
            options.injection = SidecarInjection(image: injectImage, managers: injectManagers ?? "\(listen.host):\(listen.port)")
        }
        options.registerWebhooks = webhookURL != nil
        options.webhookURL = webhookURL
        options.webhookCertificateValidity = TimeInterval(webhookCertValidity)
        options.trustsSessions = trustSessions
        options.grpcPlaintext = grpcPlaintext
        options.registerFenceWebhook = fenceWebhook
        options.keepalive = .seconds(keepalive)
        let runtime: ManagerRuntime
        do {
            runtime = try await ManagerRuntime.start(options, upstream: config)
        } catch {
            throw ValidationError("\(error)")
        }
        var line = "ctrlmesh manager \(options.identity) listening for proxies on \(listen.host):\(runtime.grpcPort)"
        if let port = runtime.webhookPort { line += ", webhooks on https://\(webhookListen?.host ?? "127.0.0.1"):\(port)" }
        Console.line(line + "; campaigning for \(options.namespace)/\(options.leaseName)")
        let background = Task { await runtime.run() }
        await Signals.waitForTermination()
        background.cancel()
        _ = await background.value
        await runtime.close()
    }
}
