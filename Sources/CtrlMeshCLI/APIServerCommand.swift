import ArgumentParser
import Foundation
import KubeAPIServer
import Logging
import MeshCore

struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Serve an embedded Kubernetes-compatible API server (HTTP/1.1, h2c, or TLS with h2).")

    @Option(help: "Address to listen on, host:port (port 0 picks a free one).")
    var listen = ListenAddress(host: "127.0.0.1", port: 6443)

    @Option(help: "Persist objects in SQLite under this directory; memory only when absent.")
    var dataDir: String?

    @Option(help: "Write a kubeconfig for this server to this file.")
    var kubeconfigOut: String?

    @Flag(help: "Serve HTTPS with a generated CA (written into the kubeconfig); ALPN offers h2.")
    var tls = false

    @Option(help: "Seconds between watch bookmarks.")
    var bookmarkInterval = 60

    @Option(help: "Events kept for watches that resume from a resourceVersion.")
    var watchHistory = 20_000

    @Flag(help: "Compare each proxy's X-Ctrlmesh-Judged stamp with this server's routing (see /debug/ctrlmesh/judgements).")
    var checkJudgements = false

    @Option(help: "Milliseconds waited before each request is served, emulating a remote API server's round trip (for benchmarks).")
    var requestLatencyMs: Double = 0

    @Flag(help: "Do not judge mesh proxies' stamped writes against their ShardingConfig's grants (only to test the manager's fence webhook, or the lack of any fence).")
    var noMeshFence = false

    func run() async throws {
        var config = EmbeddedAPIServer.Configuration()
        config.host = listen.host
        config.port = listen.port
        config.dataDirectory = dataDir
        config.tls = tls
        config.historyLimit = watchHistory
        config.options.bookmarkInterval = .seconds(bookmarkInterval)
        config.options.checkJudgements = checkJudgements
        guard requestLatencyMs >= 0, requestLatencyMs <= 60_000 else {
            throw ValidationError("--request-latency-ms must be between 0 and 60000")
        }
        config.options.requestLatency = .microseconds(Int64(requestLatencyMs * 1000))
        config.options.writeFence = noMeshFence ? nil : StoredGrantFences().judge
        let server: EmbeddedAPIServer
        do {
            server = try await EmbeddedAPIServer.start(config)
        } catch {
            throw ValidationError("cannot start the API server on \(listen.host):\(listen.port): \(error)")
        }
        if let kubeconfigOut { try server.writeKubeconfig(to: kubeconfigOut) }
        Console.line("ctrlmesh apiserver ready on \(server.url)" + (kubeconfigOut.map { " (kubeconfig: \($0))" } ?? ""))
        await Signals.waitForTermination()
        await server.close()
    }
}
