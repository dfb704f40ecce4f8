import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KubeClient
import KubeModel
import OperatorRuntime

/// Memory of an informer's cache per cached object, against the JSON size of those objects,
/// measured in this process's RSS (an API server runs elsewhere). Side by side, the same
/// objects held as parsed JSON trees, as a cache of decoded objects would hold them.
struct InformerMemoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "informer-memory",
                                                    abstract: "RSS of an informer's cache per cached JSON byte.")

    @Option(help: "Kubeconfig of the API server holding the objects.")
    var kubeconfig: String

    @Option(help: "Resource to cache, as group/version/resource (core group: /v1/pods).")
    var resource = "/v1/pods"

    func run() async throws {
        let parts = resource.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { throw ValidationError("--resource must be group/version/resource") }
        let gvr = GroupVersionResource(group: parts[0], version: parts[1], resource: parts[2])
        let client = RESTClient(config: try ClientConfig.load(kubeconfigPath: kubeconfig), qps: nil)
        // Warm the client (connection pool, TLS, allocator arenas) before the baseline.
        _ = try await client.list(gvr, options: .init(limit: 1))
        trim()
        let baseline = rss()

        let informer = Informer(client: client, resource: gvr)
        let running = Task { await informer.run() }
        await informer.waitForSync()
        trim()
        let cached = informer.cache.list()
        let jsonBytes = cached.reduce(0) { $0 + $1.bytes.count }
        let withCache = rss()
        running.cancel()

        // The same objects as parsed trees, for comparison.
        let trees = cached.map(\.json)
        trim()
        let withTrees = rss()
        withExtendedLifetime(trees) {}

        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        print("informer memory: \(cached.count) \(gvr.resource), \(mib(jsonBytes)) of JSON (\(jsonBytes / max(cached.count, 1)) bytes each)")
        print(String(format: "  informer cache:     %@ over baseline, %.2f x the JSON (target <= 2.00)",
                     mib(withCache - baseline), Double(withCache - baseline) / Double(jsonBytes)))
        print(String(format: "  as parsed trees:    %@ more, %.2f x the JSON",
                     mib(withTrees - withCache), Double(withTrees - withCache) / Double(jsonBytes)))
        print(String(format: "  per 10,000 objects: %@ (cache)", mib((withCache - baseline) * 10_000 / max(cached.count, 1))))
        await client.connection.shutdown()
    }

    /// Resident set size in bytes, from /proc.
    func rss() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// Returns freed heap pages to the system so RSS reflects live memory (glibc's
    /// `malloc_trim`, looked up at run time because no Swift module exports it).
    func trim() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
}
