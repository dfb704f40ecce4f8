import ArgumentParser
import Foundation
import KubeClient
import Logging
import OperatorRuntime
import SampleOperator
import ServiceLifecycle

struct SampleOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-operator",
        abstract: "Run the sample Kruise CloneSet operator (apps.kruise.io/v1alpha1) on the operator runtime.",
        discussion: """
            Creates and deletes the pods of each CloneSet to match its replicas, rolls template changes in place \
            or by recreation (partition, maxUnavailable), keeps status current, and records in the annotation \
            sample.ctrlmesh.io/reconciled-by which replica reconciled it last. It knows nothing about shards: \
            point --kubeconfig at a ctrlmesh proxy to run it as one shard of a mesh.
            """)

    @Option(help: "Kubeconfig of the API server (or of the proxy in front of it); else $KUBECONFIG, else in-cluster.")
    var kubeconfig: String?

    @Flag(help: "Elect a leader over a Lease before reconciling (client-go compatible).")
    var leaderElect = false

    @Option(help: "Namespace and name of the leader-election Lease.")
    var leaderElectionLease = "default/ctrlmesh-sample-operator"

    @Option(help: "Concurrent reconciles.")
    var workers = 4

    @Option(help: "This replica's identity (leader election and the reconciled-by annotation); defaults to host name and pid.")
    var identity: String?

    @Option(help: "Address for /healthz, /readyz and /metrics, host:port (port 0 picks one).")
    var healthListen: ListenAddress?

    @Option(help: "Client-side request limit, requests per second.")
    var qps: Double = 200

    @Option(help: "Requests the client may make at once above --qps (default: twice --qps; client-go's default is 10 for QPS 5, controller-runtime's 30 for 20).")
    var burst: Int?

    @Flag(help: "Also act as the node (kwok-style): report every pod Running and Ready.")
    var simulateNodes = false

    @Option(help: "Lease duration, renew deadline and retry period in seconds.")
    var leaseTimings = "15,10,2"

    @Option(name: .customLong("pod-label"), help: "KEY=VALUE stamped on every pod it creates, besides the template's labels (repeatable; the API server judges the value).")
    var podLabels: [String] = []

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        if qps <= 0 { throw ValidationError("--qps must be positive") }
        if let burst, burst < 1 { throw ValidationError("--burst must be at least 1") }
        if podLabels.contains(where: { !$0.contains("=") }) { throw ValidationError("--pod-label must be KEY=VALUE") }
        guard leaderElectionLease.split(separator: "/").count == 2 else {
            throw ValidationError("--leader-election-lease must be NAMESPACE/NAME")
        }
        let timings = leaseTimings.split(separator: ",").compactMap { Double($0) }
        guard timings.count == 3, timings[0] > timings[1], timings[1] > timings[2], timings[2] > 0 else {
            throw ValidationError("--lease-timings must be DURATION,RENEW_DEADLINE,RETRY_PERIOD with duration > deadline > retry > 0")
        }
    }

    func run() async throws {
        let config = try ClientConfig.forCommand(kubeconfig: kubeconfig)
        let identity = self.identity ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        var options = Manager.Options(healthListen: healthListen.map { ($0.host, $0.port) })
        if leaderElect {
            let parts = leaderElectionLease.split(separator: "/").map(String.init)
            let timings = leaseTimings.split(separator: ",").compactMap { Double($0) }
            var election = LeaderElector.Configuration(namespace: parts[0], name: parts[1], identity: identity)
            election.leaseDuration = .seconds(timings[0])
            election.renewDeadline = .seconds(timings[1])
            election.retryPeriod = .seconds(timings[2])
            options.leaderElection = election
            options.onLeadershipChange = { leading in
                Console.line("\(leading ? "leading" : "stopped leading") \(identity) at \(Date().timeIntervalSince1970)")
            }
        }
        let client = RESTClient(config: config, qps: qps, burst: burst ?? max(1, Int(qps * 2)))
        let logger = Logger(label: "ctrlmesh.sample-operator")
        let manager = Manager(client: client, options: options, logger: logger)
        let labels = Dictionary(podLabels.map { label in
            let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return (parts[0], parts[1])
        }, uniquingKeysWith: { $1 })
        _ = CloneSetController(manager: manager, identity: identity, workers: workers, podLabels: labels)
        if simulateNodes { _ = NodeSimulator(manager: manager) }

        var line = "ctrlmesh sample-operator \(identity) started against \(config.server)"
        if leaderElect { line += "; electing a leader over \(leaderElectionLease)" }
        let ready = Task {
            while manager.healthPort == nil && healthListen != nil { try await Task.sleep(for: .milliseconds(20)) }
            if let port = manager.healthPort { line += "; health on http://\(healthListen?.host ?? "127.0.0.1"):\(port)" }
            Console.line(line)
        }
        defer { ready.cancel() }
        do {
            try await manager.runUntilSignalled(logger: logger)
        } catch let lost as LeaderElector.LeadershipLost {
            Console.error("ctrlmesh sample-operator: \(lost.description); exiting")
            throw ExitCode(1)
        }
        await client.connection.shutdown()
    }
}
