import Foundation

// Built with `-sanitize=fuzzer -DFUZZING` (`make fuzz-build`), `main` hands over to libFuzzer's
// driver, which calls `fuzzOne` for every input of the harness named by $CTRLMESH_FUZZ_TARGET.
// An input that takes more than 100 ms of CPU (the best of three runs) counts as a crash, as a
// hang does. Built plainly, `ctrlmesh-fuzz TARGET FILE...` replays inputs through
// the same harness.

let selected: Harness = {
    let name = ProcessInfo.processInfo.environment["CTRLMESH_FUZZ_TARGET"] ?? ""
    guard let harness = Harness.named(name) else {
        fatalError("set CTRLMESH_FUZZ_TARGET to one of: \(Harness.all.map(\.name).joined(separator: ", "))")
    }
    return harness
}()

/// 100 ms of this thread's CPU time: wall time would count the fuzzer being scheduled out
/// (two fuzzers share two cores with everything else).
let slowLimitNanoseconds: UInt64 = 100_000_000

func threadCPUNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func runTimed(_ harness: Harness, _ input: [UInt8]) {
    var fastest = UInt64.max
    for _ in 0..<3 {
        let started = threadCPUNanoseconds()
        harness.run(input)
        fastest = min(fastest, threadCPUNanoseconds() - started)
        if fastest <= slowLimitNanoseconds { return }
    }
    fatalError("slow input: \(fastest / 1_000_000) ms of CPU for \(input.count) bytes in harness \(harness.name)")
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    runTimed(selected, input)
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
enum Fuzz {
    static func main() {
        _ = selected  // a missing or unknown target fails before fuzzing starts
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
    }
}
#else
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let harness = Harness.named(name) else {
            print("usage: ctrlmesh-fuzz TARGET FILE|DIR...; targets: \(Harness.all.map(\.name).joined(separator: ", "))")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                runTimed(harness, Array(data))
                count += 1
            }
        }
        print("\(harness.name): \(count) inputs replayed")
    }
}
#endif
