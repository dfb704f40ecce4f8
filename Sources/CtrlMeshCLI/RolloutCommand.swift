import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import MeshCore

struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Follow and steer the canary rollout of a ShardingConfig.",
        discussion: """
            The mesh manager steps the canary's share as each step converges and holds its pause, and rolls \
            back when the canary's API error rate passes the limit. pause, resume and abort write the \
            \(CanaryRollout.requestAnnotation) annotation and wait until the manager has acted on it. resume after \
            a rollback or an abort starts the rollout again from its first step.
            """,
        subcommands: [Status.self, Pause.self, Resume.self, Abort.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the rollout's phase, step, the canary's share and error rate.")

        @OptionGroup var target: MeshObjectOptions

        func run() async throws {
            try await RESTClient.withCommandClient(kubeconfig: target.kubeconfig) { client in
                let object = try await RolloutCommand.read(client, target)
                Console.line(try RolloutCommand.describe(object, target: target))
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hold the rollout at its current step.")
        @OptionGroup var target: MeshObjectOptions
        @Option(help: "Seconds to wait for the mesh manager to act.") var timeout: Double = 30
        func run() async throws { try await RolloutCommand.request(.pause, target: target, timeout: timeout) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Go on from a pause, or start again after a rollback or abort.")
        @OptionGroup var target: MeshObjectOptions
        @Option(help: "Seconds to wait for the mesh manager to act.") var timeout: Double = 30
        func run() async throws { try await RolloutCommand.request(.resume, target: target, timeout: timeout) }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hand the canary's whole share back to the stable shards.")
        @OptionGroup var target: MeshObjectOptions
        @Option(help: "Seconds to wait for the mesh manager to act.") var timeout: Double = 30
        func run() async throws { try await RolloutCommand.request(.abort, target: target, timeout: timeout) }
    }

    static func read(_ client: RESTClient, _ target: MeshObjectOptions) async throws -> JSON {
        do {
            return try await client.get(MeshConfig.resource(group: target.group), namespace: target.namespace, name: target.name)
        } catch let error as StatusError {
            throw CommandFailure("cannot read ShardingConfig \(target.namespace)/\(target.name): \(error.message)")
        }
    }

    /// Writes the request, then waits until the status names it as handled.
    static func request(_ verb: CanaryRollout.Request, target: MeshObjectOptions, timeout: Double) async throws {
        try await RESTClient.withCommandClient(kubeconfig: target.kubeconfig) { client in
            let object = try await RolloutCommand.read(client, target)
            let config: MeshConfig
            do { config = try MeshConfig(object: object) } catch {
                throw CommandFailure("ShardingConfig \(target.namespace)/\(target.name) is invalid: \(error)")
            }
            guard config.canary != nil else { throw CommandFailure("ShardingConfig \(target.namespace)/\(target.name) has no canary") }
            let id = "\(verb.rawValue)/\(Timestamp.microTime(.now))"
            do {
                _ = try await client.patch(MeshConfig.resource(group: target.group), namespace: target.namespace, name: target.name, type: .merge,
                                           ["metadata": ["annotations": [CanaryRollout.requestAnnotation: .string(id)]]])
            } catch let error as StatusError {
                throw CommandFailure("cannot write the \(verb.rawValue) request: \(error.message)")
            }
            let deadline = ContinuousClock.now + .seconds(timeout)
            while ContinuousClock.now < deadline {
                let current = try await read(client, target)
                if current["status"]?["rollout"]?["handledRequest"]?.stringValue == id {
                    Console.line(try describe(current, target: target))
                    return
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            throw CommandFailure("the \(verb.rawValue) request is written, but no mesh manager acted on it within \(CanaryRollout.format(timeout))s")
        }
    }

    /// The rollout as a few lines of text.
    static func describe(_ object: JSON, target: MeshObjectOptions) throws -> String {
        guard let rollout = object["status"]?["rollout"], !rollout.isNull else {
            throw CommandFailure("ShardingConfig \(target.namespace)/\(target.name) has no rollout in its status (no canary, or no mesh manager yet)")
        }
        let text = { (key: String) in rollout[key].map { $0.stringValue ?? $0.jsonString } ?? "?" }
        var lines = [
            "shardingconfig \(target.namespace)/\(target.name): rollout \(text("phase")), step \(text("step")) of \(text("steps"))",
            "  canary shard \(text("canaryShard")) owns \(text("ownedSlots")) slots (\(text("sharePercent"))%), target \(text("targetSlots"))",
            "  \(text("message"))",
        ]
        if let analysis = rollout["analysis"], !analysis.isNull {
            let value = { (key: String) in analysis[key].map { $0.stringValue ?? $0.jsonString } ?? "?" }
            lines.append("  canary API errors: \(value("errors")) of \(value("requests")) calls (\(value("percent"))%) in the analysis window")
        }
        return lines.joined(separator: "\n")
    }
}
