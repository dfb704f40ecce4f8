import KubeModel

/// What one shard owns: the value the mesh manager pushes to a proxy (and, until then, what
/// `--spec-file` holds). A proxy without a spec owns nothing.
public struct ShardSpec: Sendable, Equatable {
    /// How a sharded resource's objects map to keys.
    public enum KeyMode: String, Sendable {
        /// The object's namespace (a Namespace's own name).
        case namespace
        /// FNV-1a 64 of the uid of the object's controller owner, or of its own uid.
        case object
    }

    /// Resources sharded with one key mode, in the shape of RBAC rules (`*` matches any).
    public struct ResourceRule: Sendable, Equatable {
        public var apiGroups: [String]
        public var resources: [String]
        public var key: KeyMode

        public init(apiGroups: [String], resources: [String], key: KeyMode) {
            self.apiGroups = apiGroups
            self.resources = resources
            self.key = key
        }

        public func matches(_ gr: GroupResource) -> Bool {
            (apiGroups.contains("*") || apiGroups.contains(gr.group))
                && (resources.contains("*") || resources.contains(gr.resource))
        }
    }

    /// The keys this shard owns. A namespace key is owned when any namespace clause matches; an
    /// object key when its hash is in an object range.
    public struct OwnedKeys: Sendable, Equatable {
        public var namespaces: Set<String>
        public var namespaceSelectors: [LabelSelector]
        public var namespacePatterns: [RegexPattern]
        public var namespaceHashRanges: [HashRange]
        public var objectHashRanges: [HashRange]

        public init(namespaces: Set<String> = [], namespaceSelectors: [LabelSelector] = [],
                    namespacePatterns: [RegexPattern] = [], namespaceHashRanges: [HashRange] = [],
                    objectHashRanges: [HashRange] = []) {
            self.namespaces = namespaces
            self.namespaceSelectors = namespaceSelectors
            self.namespacePatterns = namespacePatterns
            self.namespaceHashRanges = namespaceHashRanges
            self.objectHashRanges = objectHashRanges
        }

        /// Whether ownership of a namespace can depend on its labels.
        public var usesNamespaceLabels: Bool { !namespaceSelectors.isEmpty }
    }

    /// The operator's leader-election lock, renamed per shard so each shard elects a leader.
    public struct LeaderElectionLock: Sendable, Equatable {
        public var group: String
        public var resource: String
        public var namespace: String
        public var name: String

        public init(group: String = "coordination.k8s.io", resource: String = "leases", namespace: String, name: String) {
            self.group = group
            self.resource = resource
            self.namespace = namespace
            self.name = name
        }
    }

    public var shard: String
    public var epoch: UInt64
    public var resources: [ResourceRule]
    public var owned: OwnedKeys
    public var leaderElection: LeaderElectionLock?
    /// The ShardingConfig that issued the spec (`group/namespace/name`), named in the stamp of
    /// every write so the fence at the API server judges it by that config's grants; nil for a
    /// spec written by hand.
    public var mesh: String?

    public init(shard: String, epoch: UInt64, resources: [ResourceRule], owned: OwnedKeys,
                leaderElection: LeaderElectionLock? = nil, mesh: String? = nil) {
        self.mesh = mesh
        self.shard = shard
        self.epoch = epoch
        self.resources = resources
        self.owned = owned
        self.leaderElection = leaderElection
    }

    /// The stamp of writes admitted under this spec.
    public var stamp: WriterStamp { WriterStamp(mesh: mesh, shard: shard, epoch: epoch) }

    /// The key mode of a resource, nil when it is not sharded.
    public func keyMode(of gr: GroupResource) -> KeyMode? {
        resources.first { $0.matches(gr) }?.key
    }
}

/// A regular expression (namespace sets, rule paths and hosts), matched anywhere in the text
/// (as Go's `MatchString`) unless anchored, in time linear in the text (`RegexProgram`): the
/// text is a namespace or a request path a client chose.
public struct RegexPattern: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    let program: RegexProgram

    public init(_ pattern: String) throws(RegexSyntaxError) {
        self.pattern = pattern
        self.program = try RegexProgram(RegexParser.parse(pattern))
    }

    public func matches(_ text: String) -> Bool {
        program.run(text).matched
    }

    public var description: String { pattern }

    public static func == (a: RegexPattern, b: RegexPattern) -> Bool { a.pattern == b.pattern }
}
