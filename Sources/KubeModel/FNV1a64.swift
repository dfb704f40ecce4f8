/// FNV-1a, 64 bit: the hash of Kubernetes' server-side sharding (KEP-5866) and of every
/// shard key in the mesh.
public enum FNV1a64 {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h = offsetBasis
        for b in bytes {
            h ^= UInt64(b)
            h = h &* prime
        }
        return h
    }

    public static func hash(_ text: String) -> UInt64 {
        hash(text.utf8)
    }
}
