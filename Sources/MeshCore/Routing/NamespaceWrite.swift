/// How a write to a Namespace whose labels decide ownership is judged, against the namespace
/// as it is and as the write leaves it (`FenceDecision.judgeNamespaceWrite`). The shard owns
/// everything in it (`ShardFence.namespaceWriteDecision`).
public struct NamespaceWrite: Equatable, Sendable {
    /// Namespaces are themselves sharded: the shard must own the namespace on both sides.
    /// Otherwise only a write that changes the labels needs the shard to own it on both sides.
    public var sharded: Bool

    public init(sharded: Bool) {
        self.sharded = sharded
    }

    /// Whether the write needs the shard to own the namespace as the write leaves it (and as
    /// it is).
    public func judgesOwnership(labelsChange: Bool) -> Bool {
        sharded || labelsChange
    }
}
