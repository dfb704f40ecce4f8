import KubeModel

/// Who owns whom, kept from the store's events in commit order, and what the garbage
/// collector must do after each event. No I/O: `GarbageCollector` performs the actions.
///
/// The rules are those of Kubernetes' garbage collector: an object whose owners are all gone
/// is deleted (background propagation, and objects created with dangling owner references);
/// an owner being deleted in the foreground keeps its `foregroundDeletion` finalizer until its
/// dependents are gone.
struct OwnerIndex {
    struct Ref: Hashable, Sendable {
        var resource: GroupResource
        var key: ObjectKey
        var uid: String
    }

    enum Action: Hashable, Sendable {
        /// Delete this object (it must still carry this uid).
        case delete(Ref)
        /// The owner's dependents are gone: drop its `foregroundDeletion` finalizer.
        case finishForeground(Ref)
    }

    static let foregroundFinalizer = "foregroundDeletion"

    /// Every live object by uid.
    private(set) var live: [String: Ref] = [:]
    /// Owner uid to the live objects that name it.
    private(set) var dependents: [String: Set<Ref>] = [:]
    /// Dependent uid to the owner uids it names.
    private var ownersOf: [String: [String]] = [:]
    /// Owners waiting for their dependents (foreground deletion).
    private var foreground: [String: Ref] = [:]

    /// Loads the objects present when observation starts; returns the dangling ones to delete.
    mutating func load(_ objects: [(GroupResource, JSON)]) -> [Action] {
        for (gr, json) in objects { insert(Self.ref(gr, json), owners: Self.ownerUIDs(json)) }
        return objects.flatMap { gr, json in judge(Self.ref(gr, json), json: json) }
    }

    /// Applies one committed change and returns what to do about it.
    mutating func apply(_ type: WatchEventType, resource gr: GroupResource, object json: JSON) -> [Action] {
        let ref = Self.ref(gr, json)
        switch type {
        case .added, .modified:
            remove(ref)
            insert(ref, owners: Self.ownerUIDs(json))
            return judge(ref, json: json)
        case .deleted:
            remove(ref)
            foreground[ref.uid] = nil
            var actions: [Action] = []
            // Background propagation: every dependent whose owners are now all gone.
            for dependent in (dependents[ref.uid] ?? []).sorted(by: { $0.uid < $1.uid })
            where (ownersOf[dependent.uid] ?? []).allSatisfy({ live[$0] == nil }) {
                actions.append(.delete(dependent))
            }
            // A dependent of a foreground deletion is gone: its owner may now finish.
            for owner in ownersOf[ref.uid] ?? [] {
                if let waiting = foreground[owner], (dependents[owner] ?? []).isEmpty {
                    foreground[owner] = nil
                    actions.append(.finishForeground(waiting))
                }
            }
            ownersOf[ref.uid] = nil
            return actions
        }
    }

    /// A dangling object (every owner gone) is deleted; an owner newly marked for foreground
    /// deletion gets its dependents deleted.
    private mutating func judge(_ ref: Ref, json: JSON) -> [Action] {
        let owners = Self.ownerUIDs(json)
        if !owners.isEmpty, json.deletionTimestamp == nil, owners.allSatisfy({ live[$0] == nil }) {
            return [.delete(ref)]
        }
        guard json.deletionTimestamp != nil, json.finalizers.contains(Self.foregroundFinalizer),
              foreground[ref.uid] == nil else { return [] }
        let waiting = (dependents[ref.uid] ?? []).sorted { $0.uid < $1.uid }
        if waiting.isEmpty { return [.finishForeground(ref)] }
        foreground[ref.uid] = ref
        return waiting.map { .delete($0) }
    }

    private mutating func insert(_ ref: Ref, owners: [String]) {
        live[ref.uid] = ref
        ownersOf[ref.uid] = owners
        for owner in owners { dependents[owner, default: []].insert(ref) }
    }

    private mutating func remove(_ ref: Ref) {
        live[ref.uid] = nil
        for owner in ownersOf[ref.uid] ?? [] {
            dependents[owner]?.remove(ref)
            if dependents[owner]?.isEmpty == true { dependents[owner] = nil }
        }
    }

    static func ref(_ gr: GroupResource, _ json: JSON) -> Ref {
        Ref(resource: gr, key: ObjectKey(namespace: json.namespace ?? "", name: json.name ?? ""), uid: json.uid ?? "")
    }

    /// The uids of the object's owners. A reference to itself is no owner: an object cannot wait
    /// for itself to go (a foreground delete would never finish) nor keep itself alive.
    static func ownerUIDs(_ json: JSON) -> [String] {
        let own = json.uid
        return json.metadataValue("ownerReferences")?.arrayValue?.compactMap { $0["uid"]?.stringValue }.filter { $0 != own } ?? []
    }
}
