import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

struct CtrlMesh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctrlmesh",
        abstract: "ControllerMesh: a sharded operator runtime for Kubernetes.",
        subcommands: [APIServerCommand.self, ProxyCommand.self, ManagerCommand.self, SampleOperatorCommand.self, NodeSimCommand.self,
                      DemoCommand.self, StatusCommand.self, InjectCommand.self, BreakerCommand.self,
                      RolloutCommand.self])
}

@main
enum Main {
    static func main() {
        // The proxy moves every byte through Swift concurrency and NIO: running tasks on the
        // event loops themselves saves a thread hop per await. Other roles block in tasks
        // (SQLite), so they keep the default pool.
        if CommandLine.arguments.dropFirst().first == "proxy" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        Task {
            await CtrlMesh.main()
            exit(0)
        }
        dispatchMain()
    }
}
