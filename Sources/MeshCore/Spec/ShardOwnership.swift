import KubeModel

/// The ownership decision for one object key. Pure: namespace labels, when a selector needs
/// them, come from the caller.
extension ShardSpec {
    /// The hash an object key mode uses: its controller owner's uid, else its own uid.
    public static func objectKeyHash(_ identity: ObjectIdentity) -> UInt64? {
        let uid = identity.controllerUID ?? identity.uid
        return uid.isEmpty ? nil : FNV1a64.hash(uid)
    }

    /// Whether this shard owns namespace `name` (labels nil when unknown: selectors then do
    /// not match, which fails closed).
    public func ownsNamespace(_ name: String, labels: [String: String]?) -> Bool {
        let owned = self.owned
        if owned.namespaces.contains(name) { return true }
        if !owned.namespaceHashRanges.isEmpty {
            let hash = FNV1a64.hash(name)
            if owned.namespaceHashRanges.contains(where: { $0.contains(hash) }) { return true }
        }
        if owned.namespacePatterns.contains(where: { $0.matches(name) }) { return true }
        if let labels, owned.namespaceSelectors.contains(where: { $0.matches(labels) }) { return true }
        return false
    }

    /// Whether this shard owns an object of a resource with the given key mode. Objects
    /// without a namespace have no namespace key; objects without any uid have no object key:
    /// neither is owned.
    public func owns(_ identity: ObjectIdentity, mode: KeyMode, isNamespaceResource: Bool,
                     namespaceLabels: (String) -> [String: String]?) -> Bool {
        switch mode {
        case .namespace:
            let namespace = isNamespaceResource ? identity.name : identity.namespace
            guard !namespace.isEmpty else { return false }
            // Labels matter only to selectors; the lookup is skipped for every other spec. A
            // Namespace is judged by its own labels as read (none is none: a write that drops
            // them must not be judged by the labels it had).
            guard owned.usesNamespaceLabels else { return ownsNamespace(namespace, labels: nil) }
            let labels = isNamespaceResource ? identity.labels : namespaceLabels(namespace)
            return ownsNamespace(namespace, labels: labels)
        case .object:
            guard let hash = ShardSpec.objectKeyHash(identity) else { return false }
            return owned.objectHashRanges.contains { $0.contains(hash) }
        }
    }

    /// The KEP-5866 selector that expresses this shard's slice of a resource on the server,
    /// when one exists: namespace keys owned purely by hash ranges. Object keys follow their
    /// owner, which the server cannot, so they are always filtered here.
    public func serverShardSelector(for mode: KeyMode) -> ShardSelector? {
        guard mode == .namespace, owned.namespaces.isEmpty, owned.namespaceSelectors.isEmpty,
              owned.namespacePatterns.isEmpty, !owned.namespaceHashRanges.isEmpty else { return nil }
        return ShardSelector(field: .namespace, ranges: owned.namespaceHashRanges)
    }
}
