import ArgumentParser
import AsyncHTTPClient
import Foundation
import KubeModel
import NIOCore

/// Benchmarks the embedded API server as a separate process, driven over HTTP/1.1, in three
/// phases: creates of ConfigMaps, a JSON list of all of them, and watchers that resume from
/// before the creates and each receive every event.
/// Runs the in-memory store and the SQLite store side by side and prints both with their ratio.
struct APIServerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apiserver", abstract: "Creates, lists and watches on the embedded API server, memory and SQLite side by side.")

    @Option(help: "Path to the ctrlmesh binary (build with -c release).")
    var ctrlmesh = ".build/release/ctrlmesh"
    @Option(help: "Objects to create.")
    var objects = 20_000
    @Option(help: "Concurrent watchers.")
    var watchers = 10
    @Option(help: "Concurrent create requests.")
    var concurrency = 32

    struct Result {
        var createsPerSecond: Double
        var createsPerCPUSecond: Double
        var listSeconds: Double
        var listBytes: Int
        var watchEventsPerSecond: Double
        var peakRSSMiB: Double
    }

    func run() async throws {
        let memory = try await measure(dataDir: nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctrlmesh-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sqlite = try await measure(dataDir: dir)
        func row(_ name: String, _ m: Double, _ s: Double, _ unit: String) -> String {
            name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + String(format: "%12.1f %12.1f %8.2f  %@", m, s, s / m, unit)
        }
        print("ctrlmesh apiserver benchmark: \(objects) configmaps, \(watchers) watchers, \(concurrency) concurrent creates, server pinned to one core")
        print("metric".padding(toLength: 34, withPad: " ", startingAt: 0) + "      memory       sqlite   ratio")
        print(row("creates/s (wall clock)", memory.createsPerSecond, sqlite.createsPerSecond, ""))
        print(row("creates per server CPU-second", memory.createsPerCPUSecond, sqlite.createsPerCPUSecond, "(target >= 5000 on one core)"))
        print(row("list all (ms)", memory.listSeconds * 1000, sqlite.listSeconds * 1000, "(target < 1000)"))
        print(row("list size (MiB)", Double(memory.listBytes) / 1_048_576, Double(sqlite.listBytes) / 1_048_576, ""))
        print(row("watch events delivered/s (all)", memory.watchEventsPerSecond, sqlite.watchEventsPerSecond, ""))
        print(row("server peak RSS (MiB)", memory.peakRSSMiB, sqlite.peakRSSMiB, ""))
    }

    func measure(dataDir: String?) async throws -> Result {
        let process = Process()
        let pin = FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset")
        process.executableURL = URL(fileURLWithPath: pin ? "/usr/bin/taskset" : ctrlmesh)
        // History holds every create, so watchers can resume from before them.
        var args = ["apiserver", "--listen", "127.0.0.1:0", "--watch-history", String(objects + 1000)]
        if let dataDir { args += ["--data-dir", dataDir] }
        process.arguments = pin ? ["-c", "0", ctrlmesh] + args : args
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { throw ValidationError("apiserver exited before it was ready") }
            line += chunk
        }
        guard let url = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace).first(where: { $0.hasPrefix("http") }) else {
            throw ValidationError("no URL in the ready line")
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency + watchers + 4)))
        do {
            let result = try await drive(client, base: String(url), pid: process.processIdentifier)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Watchers, creates, lists and the server's peak RSS, against one running server.
    func drive(_ client: HTTPClient, base: String, pid: Int32) async throws -> Result {
        _ = try await send(client, "POST", "\(base)/api/v1/namespaces", #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}"#)
        let total = objects
        let startRV = try await listResourceVersion(client, base)

        // 1. Creates, with the server's CPU time: creates per CPU-second is the one-core figure
        //    whatever the client costs.
        let cpuBefore = serverCPUSeconds(pid)
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var i = worker
                    while i < total {
                        let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-\#(i)","labels":{"bench":"true","shard":"\#(i % 16)"}},"data":{"key":"value-\#(i)","payload":"\#(String(repeating: "x", count: 200))"}}"#
                        let status = try await send(client, "POST", "\(base)/api/v1/namespaces/bench/configmaps", body)
                        guard status == 201 else { throw ValidationError("create answered \(status)") }
                        i += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        let createSeconds = Date().timeIntervalSince(start)
        let createCPU = serverCPUSeconds(pid) - cpuBefore

        // 2. The whole list as JSON, best of three.
        var bestList = Double.infinity
        var listBytes = 0
        for _ in 0..<3 {
            let t = Date()
            var request = HTTPClientRequest(url: "\(base)/api/v1/namespaces/bench/configmaps")
            request.method = .GET
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 30)
            bestList = min(bestList, Date().timeIntervalSince(t))
            listBytes = body.readableBytes
        }

        // 3. Watchers resuming from before the creates: every create is delivered to each.
        let watchStart = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<watchers {
                group.addTask {
                    var request = HTTPClientRequest(url: "\(base)/api/v1/namespaces/bench/configmaps?watch=true&resourceVersion=\(startRV)")
                    request.method = .GET
                    let response = try await client.execute(request, timeout: .seconds(600))
                    var seen = 0
                    for try await buffer in response.body {
                        seen += buffer.readableBytesView.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                        if seen >= total { return }
                    }
                    throw ValidationError("watch ended after \(seen) events")
                }
            }
            try await group.waitForAll()
        }
        let watchSeconds = Date().timeIntervalSince(watchStart)

        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Double($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return Result(createsPerSecond: Double(total) / createSeconds, createsPerCPUSecond: Double(total) / createCPU,
                      listSeconds: bestList, listBytes: listBytes,
                      watchEventsPerSecond: Double(total * watchers) / watchSeconds, peakRSSMiB: hwm / 1024)
    }

    func listResourceVersion(_ client: HTTPClient, _ base: String) async throws -> String {
        var request = HTTPClientRequest(url: "\(base)/api/v1/namespaces/bench/configmaps?limit=1")
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let list = try JSON.parse(body.readableBytesView)
        guard let rv = list["metadata"]?["resourceVersion"]?.stringValue else { throw ValidationError("list has no resourceVersion") }
        return rv
    }

    /// utime + stime of a process, from /proc/PID/stat.
    func serverCPUSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func send(_ client: HTTPClient, _ method: String, _ url: String, _ body: String) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = .RAW(value: method)
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }
}
