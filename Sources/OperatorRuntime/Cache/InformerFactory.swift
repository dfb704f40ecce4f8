import KubeClient
import KubeModel
import Logging
import Synchronization

/// One informer per resource and namespace, shared by every controller that asks for it, so a
/// resource is listed and watched once however many controllers read it.
public final class InformerFactory: Sendable {
    struct Key: Hashable {
        var resource: GroupVersionResource
        var namespace: String?
    }

    let client: RESTClient
    let resyncPeriod: Duration?
    let logger: Logger
    /// Shared by every informer made here, so workers wait for all of them to relist.
    public let relistGate = RelistGate()
    private let informers = Mutex([Key: Informer]())

    public init(client: RESTClient, resyncPeriod: Duration? = nil, logger: Logger = Logger(label: "ctrlmesh.informer")) {
        self.client = client
        self.resyncPeriod = resyncPeriod
        self.logger = logger
    }

    public func informer(for resource: GroupVersionResource, namespace: String? = nil) -> Informer {
        informers.withLock { all in
            let key = Key(resource: resource, namespace: namespace)
            if let existing = all[key] { return existing }
            let created = Informer(client: client, resource: resource, namespace: namespace, resyncPeriod: resyncPeriod,
                                   relistGate: relistGate, logger: logger)
            all[key] = created
            return created
        }
    }

    public var all: [Informer] { informers.withLock { Array($0.values) } }
}
