/// How a write to a Namespace is judged against the namespace as it is and as the write
/// leaves it (`FenceDecision.judgeNamespaceWrite`).
public struct NamespaceWrite: Equatable, Sendable {
    /// Namespaces are themselves sharded: the shard must own the namespace on both sides.
    public var sharded: Bool
    /// Its labels decide which shard owns what is in it: a write that changes them needs the
    /// shard to own it on both sides, even where namespaces are not sharded.
    public var labelsDecide: Bool
    /// The shard does not own everything in it: the write must leave its ownerReferences as
    /// they are, or the garbage collector could delete it, and everything in it, when an owner
    /// the shard chose goes.
    public var ownersFixed: Bool

    public init(sharded: Bool, labelsDecide: Bool, ownersFixed: Bool) {
        self.sharded = sharded
        self.labelsDecide = labelsDecide
        self.ownersFixed = ownersFixed
    }

    /// Whether the write needs the shard to own the namespace as the write leaves it (and as
    /// it is): always where namespaces are sharded, else only when the labels that decide
    /// ownership change.
    public func judgesOwnership(labelsChange: Bool) -> Bool {
        sharded || (labelsDecide && labelsChange)
    }
}
