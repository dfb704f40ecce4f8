/// One coverage-guided fuzzing harness: a name and what it does with one input. It must not
/// crash on any input, and checks the properties a correct reader has (round trips, bounds).
struct Harness: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [Harness] = [
        .json, .jsonListFilter, .jsonWatchFilter, .protobuf, .protobufListFilter, .protobufWatchFilter,
        .selectors, .request, .patch, .config, .yaml,
    ]

    static func named(_ name: String) -> Harness? { all.first { $0.name == name } }
}

/// A property every input must keep: a broken one stops the fuzzer with the input saved.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("property violated: \(message())") }
}

/// Splits an input at a boundary it chooses itself (its first byte), so the fuzzer explores
/// chunkings of a stream as well as its bytes.
func chunks(_ data: [UInt8]) -> [[UInt8]] {
    guard let first = data.first else { return [] }
    let rest = Array(data.dropFirst())
    let size = Int(first % 61) + 1
    return stride(from: 0, to: rest.count, by: size).map { Array(rest[$0..<min($0 + size, rest.count)]) }
}
