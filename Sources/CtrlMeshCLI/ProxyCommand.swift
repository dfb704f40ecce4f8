import ArgumentParser
import Foundation
import KubeClient
import Logging
import MeshControl
import MeshProxy
import NIOSSL

struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run the sharding sidecar between an operator and the API server.",
        discussion: """
            The operator sends its API traffic to --listen (HTTP/1.1 or h2c; https with --tls-cert/--tls-key). \
            The proxy forwards it to the API server of --kubeconfig (else $KUBECONFIG, else the pod's service \
            account), showing the operator only its shard and refusing writes outside it. Without a spec the \
            proxy fails closed: sharded lists are empty and writes are refused.
            """)

    @Option(help: "Address the operator connects to, host:port (port 0 picks a free one).")
    var listen = ListenAddress(host: "127.0.0.1", port: 5443)

    @Option(help: "Kubeconfig of the upstream API server; in-cluster config when absent and running in a pod.")
    var kubeconfig: String?

    @Flag(help: "Use the pod's service account (KUBERNETES_SERVICE_HOST/PORT, token and CA) for the upstream.")
    var inCluster = false

    @Option(help: "Shard spec file (YAML or JSON), re-read when it changes.")
    var specFile: String?

    @Option(help: "Mesh manager addresses, host:port[,host:port...]: take specs from the manager instead of --spec-file.")
    var manager: String?

    @Option(help: "This operator pod's name (default $POD_NAME), which the manager places in a shard.")
    var podName: String?

    @Option(help: "This operator pod's namespace (default $POD_NAMESPACE).")
    var podNamespace: String?

    @Option(help: "CA (PEM file) the manager's certificate must be signed by: speak TLS to the manager (mTLS with --manager-cert/--manager-key). Default: the PEM in $CTRLMESH_MANAGER_CA_PEM, as the injection webhook sets it.")
    var managerCA: String?

    @Flag(help: "Speak plaintext to the manager (a local run): without it the proxy needs --manager-ca or $CTRLMESH_MANAGER_CA_PEM.")
    var managerPlaintext = false

    @Option(help: "This proxy's client certificate (PEM) for mTLS to the manager.")
    var managerCert: String?

    @Option(help: "The private key (PEM) of --manager-cert.")
    var managerKey: String?

    @Option(help: "Service-account token bound to this pod (a projected token for audience ctrlmesh-manager) that proves the pod to the manager; re-read for every session (default $CTRLMESH_TOKEN_FILE).")
    var managerTokenFile: String?

    @Option(help: "User a stamped write impersonates when the operator impersonates nobody (default $CTRLMESH_WRITE_AS, else system:serviceaccount:<pod namespace>:<$CTRLMESH_SERVICE_ACCOUNT or default>).")
    var writeAs: String?

    @Option(help: "Seconds an admitted write may wait in the proxy before it leaves; past it the write is aborted (503), never sent late.")
    var maxWriteAge = 5

    @Option(help: "Liveness lease timings in seconds: duration,renew-deadline,retry (renew-deadline < duration).")
    var memberLease = "10,7,1"

    @Option(help: "Address for /metrics, /healthz, /readyz and /status, host:port.")
    var metricsListen: ListenAddress?

    @Option(help: "PEM certificate for serving https to the operator.")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Write the kubeconfig the operator uses to reach this proxy to this file.")
    var kubeconfigOut: String?

    @Flag(help: "Stamp every request sent upstream with the proxy's classification of it (X-Ctrlmesh-Judged), for an API server started with --check-judgements.")
    var stampJudgements = false

    @Option(help: "Requests the proxy has in flight to the API server at once, watches included; past it the operator gets 429 with Retry-After.")
    var maxInFlight = 1024

    @Flag(help: ArgumentHelp("Send every request through the async executor, none on the event loop (to measure the data path against it).", visibility: .hidden))
    var asyncDataPath = false

    func validate() throws {
        if maxInFlight < 1 { throw ValidationError("--max-in-flight must be at least 1") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if inCluster, kubeconfig != nil { throw ValidationError("--in-cluster and --kubeconfig exclude each other") }
        if manager != nil, specFile != nil { throw ValidationError("--manager and --spec-file exclude each other") }
        _ = try meshOptions()
    }

    /// The mesh options when --manager is given.
    /// How the session with the manager is secured: mTLS, TLS trusting a CA (a file, or the
    /// PEM the injection webhook put in the environment), or plaintext when asked for.
    func managerTLS(_ environment: [String: String]) throws -> ManagerTLS? {
        if managerCert != nil || managerKey != nil {
            return try MutualTLSFiles.fromFlags(certificate: managerCert, privateKey: managerKey, trustedCA: managerCA,
                                                flags: "--manager-ca, --manager-cert and --manager-key").map { .mutual($0) }
        }
        if managerPlaintext {
            if managerCA != nil { throw ValidationError("--manager-plaintext and --manager-ca contradict each other") }
            return nil
        }
        if let managerCA {
            guard let pem = FileManager.default.contents(atPath: managerCA).flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw ValidationError("cannot read \(managerCA)")
            }
            return .verifyingServer(caPEM: pem)
        }
        if let pem = environment["CTRLMESH_MANAGER_CA_PEM"], !pem.isEmpty { return .verifyingServer(caPEM: pem) }
        throw ValidationError("--manager needs TLS to the manager: --manager-ca (or $CTRLMESH_MANAGER_CA_PEM), or --manager-plaintext for a local run")
    }

    /// The user stamped writes impersonate: the operator's own service account.
    func writerIdentity(namespace: String?) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let user = writeAs ?? environment["CTRLMESH_WRITE_AS"], !user.isEmpty { return user }
        let account = environment["CTRLMESH_SERVICE_ACCOUNT"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let namespace = namespace ?? podNamespace ?? environment["POD_NAMESPACE"] ?? "default"
        return "system:serviceaccount:\(namespace):\(account)"
    }

    func meshOptions() throws -> ProxyRuntime.Mesh? {
        guard let manager else { return nil }
        var targets: [ManagerSession.Target] = []
        for item in manager.split(separator: ",") {
            guard let address = ListenAddress(argument: String(item)) else {
                throw ValidationError("--manager: \"\(item)\" is not host:port")
            }
            targets.append(ManagerSession.Target(host: address.host, port: address.port))
        }
        if targets.isEmpty { throw ValidationError("--manager: no address given") }
        let environment = ProcessInfo.processInfo.environment
        guard let pod = podName ?? environment["POD_NAME"], !pod.isEmpty else {
            throw ValidationError("--manager needs the pod's name: --pod-name or $POD_NAME")
        }
        guard let namespace = podNamespace ?? environment["POD_NAMESPACE"], !namespace.isEmpty else {
            throw ValidationError("--manager needs the pod's namespace: --pod-namespace or $POD_NAMESPACE")
        }
        let parts = memberLease.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }), parts[1] < parts[0] else {
            throw ValidationError("--member-lease: expected duration,renew-deadline,retry in whole seconds with renew-deadline < duration")
        }
        let tls = try managerTLS(environment)
        var mesh = ProxyRuntime.Mesh(managers: targets, podName: pod, podNamespace: namespace,
                                     lease: MemberLease.Timings(duration: .seconds(parts[0]), renewDeadline: .seconds(parts[1]),
                                                                retryPeriod: .seconds(parts[2])), tls: tls)
        mesh.tokenFile = managerTokenFile ?? environment["CTRLMESH_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        return mesh
    }

    func run() async throws {
        let upstream: ClientConfig
        do {
            upstream = inCluster ? try ClientConfig.inCluster() : try ClientConfig.resolve(kubeconfig: kubeconfig)
        } catch {
            throw ValidationError(error.description)
        }
        var tls: NIOSSLContext?
        if let tlsCert, let tlsKey {
            do {
                let configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(tlsCert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
                var withALPN = configuration
                withALPN.applicationProtocols = ["h2", "http/1.1"]
                tls = try NIOSSLContext(configuration: withALPN)
            } catch {
                throw ValidationError("cannot load --tls-cert/--tls-key: \(error)")
            }
        }
        var options = ProxyRuntime.Options(host: listen.host, port: listen.port, tls: tls, adminHost: metricsListen?.host,
                                           adminPort: metricsListen?.port, specFile: specFile, mesh: try meshOptions())
        options.stampJudgements = stampJudgements
        options.maxInFlight = maxInFlight
        options.inlineDataPath = !asyncDataPath
        options.writerIdentity = writerIdentity(namespace: options.mesh?.podNamespace)
        options.maxWriteAge = .seconds(maxWriteAge)
        let runtime: ProxyRuntime
        do {
            runtime = try await ProxyRuntime.start(options, upstream: upstream)
        } catch {
            throw ValidationError("cannot start the proxy on \(listen.host):\(listen.port): \(error)")
        }
        if let kubeconfigOut {
            try runtime.operatorKubeconfig().write(toFile: kubeconfigOut, atomically: true, encoding: .utf8)
        }
        var line = "ctrlmesh proxy ready on \(tls == nil ? "http" : "https")://\(listen.host):\(runtime.port) -> \(upstream.server)"
        if let admin = runtime.adminPort { line += " (admin on http://\(metricsListen?.host ?? "127.0.0.1"):\(admin))" }
        if let specFile, !FileManager.default.fileExists(atPath: specFile) {
            line += "; spec file \(specFile) does not exist yet: failing closed until it does"
        } else if let manager {
            line += "; specs from the manager at \(manager)"
        } else if specFile == nil {
            line += "; no --spec-file: failing closed"
        }
        Console.line(line)
        let background = Task { await runtime.run() }
        await Signals.waitForTermination()
        background.cancel()
        await runtime.leaveMesh()
        await runtime.close()
    }
}
