import ArgumentParser

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctrlmesh-bench",
        subcommands: [APIServerBench.self, InformerMemoryBench.self, HandoverBench.self, PolicyMatchBench.self],
        defaultSubcommand: APIServerBench.self)
}
