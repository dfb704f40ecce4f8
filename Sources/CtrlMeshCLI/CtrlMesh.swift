import ArgumentParser

@main
struct CtrlMesh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctrlmesh",
        abstract: "ControllerMesh: a sharded operator runtime for Kubernetes.",
        subcommands: [APIServerCommand.self, ProxyCommand.self, DemoCommand.self])
}
