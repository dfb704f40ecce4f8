import KubeModel

/// The sequence of percentage draws behind one fault of one rule. With a seed it is
/// SplitMix64 seeded with `seed XOR FNV-1a64("<rule>/<fault>")`, each draw the top 53 bits of
/// the next output scaled to [0, 100): an experiment replays exactly, and anyone can recompute
/// which of the first N matched requests were faulted.
public struct PercentDraws: Sendable, Equatable {
    var state: UInt64

    public init(seed: UInt64, rule: String, fault: String) {
        state = seed ^ FNV1a64.hash("\(rule)/\(fault)")
    }

    public mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(UInt64(1) << 53) * 100
    }

    /// Whether this matched request gets the fault. 0 and 100 draw nothing.
    public mutating func hits(_ percent: Double) -> Bool {
        if percent >= 100 { return true }
        if percent <= 0 { return false }
        return next() < percent
    }
}
