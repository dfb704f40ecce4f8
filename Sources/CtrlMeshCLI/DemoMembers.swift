import Foundation
import KubeClient
import KubeModel
import MeshControl
import MeshCore
import MeshProxy
import OperatorRuntime
import SampleOperator

/// The demo's operator pods: each is a Pod object (so the manager can place it) plus, in this
/// process, its proxy (registered with the manager, renewing its liveness lease) and the
/// unchanged CloneSet operator behind it.
final class DemoMembers: @unchecked Sendable {
    struct Member {
        let pod: String
        let proxy: ProxyRuntime
        let proxyTask: Task<Void, Never>
        let manager: Manager
        let operatorTask: Task<Void, any Error>
    }

    static let namespace = "ctrlmesh-system"
    static let appLabel = "cloneset-operator"
    static let lockName = "cloneset-operator"

    /// Writes go through the API (so the injection webhook sees the pods).
    let client: RESTClient
    let serverURL: String
    let managerPort: Int
    let lease: MemberLease.Timings
    /// The CA of the manager's certificate: proxies speak TLS to it, as injected ones do.
    let managerCA: String
    /// Where the pods' tokens are written (removed when the demo ends).
    let tokenDirectory: String
    private(set) var members: [Int: Member] = [:]

    init(client: RESTClient, serverURL: String, managerPort: Int, managerCA: String, lease: MemberLease.Timings) throws {
        self.managerCA = managerCA
        tokenDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent("ctrlmesh-demo-tokens-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(atPath: tokenDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        self.client = client
        self.serverURL = serverURL
        self.managerPort = managerPort
        self.lease = lease
    }

    static func podName(_ ordinal: Int) -> String { "\(appLabel)-\(ordinal)" }

    /// The operator pods' service account, made once.
    func createServiceAccount() async throws {
        let account: JSON = ["apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": ["name": .string(DemoMembers.appLabel), "namespace": .string(DemoMembers.namespace)]]
        do {
            _ = try await client.create(.serviceAccounts,
                                        namespace: DemoMembers.namespace, account)
        } catch let error as StatusError where error.reason == .alreadyExists {}
    }

    /// A file holding a token of the operators' service account bound to `pod`.
    func tokenFile(for pod: String) async throws -> String {
        let token = try await client.podToken(serviceAccount: DemoMembers.appLabel, namespace: DemoMembers.namespace, pod: pod,
                                              audience: TokenReviewProof.audience)
        let path = (tokenDirectory as NSString).appendingPathComponent(pod)
        guard FileManager.default.createFile(atPath: path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw StatusError.internalError("cannot write \(path)")
        }
        return path
    }

    /// Starts the operator pod with this StatefulSet ordinal, or the pod named `pod` with more
    /// labels (a canary of a new version), kept under `ordinal`.
    func start(_ ordinal: Int, pod named: String? = nil, labels extra: [String: String] = [:]) async throws {
        let pod = named ?? DemoMembers.podName(ordinal)
        var labels: JSON = ["app": .string(DemoMembers.appLabel), "statefulset.kubernetes.io/pod-name": .string(pod)]
        for (key, value) in extra { labels.setValue(.string(value), at: [key]) }
        let object: JSON = [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": .string(pod), "namespace": .string(DemoMembers.namespace), "labels": labels],
            "spec": ["serviceAccountName": .string(DemoMembers.appLabel),
                     "containers": [["name": "operator", "image": "ctrlmesh:dev", "args": ["sample-operator"]]]],
        ]
        do {
            _ = try await client.create(GroupVersionResource.pods, namespace: DemoMembers.namespace, object)
        } catch let error as StatusError where error.reason == .alreadyExists {}
        var mesh = ProxyRuntime.Mesh(managers: [.init(host: "127.0.0.1", port: managerPort)], podName: pod,
                                     podNamespace: DemoMembers.namespace, lease: lease, tls: .verifyingServer(caPEM: managerCA))
        // The proxy proves its pod to the manager as an injected one does: with a token of the
        // pod's service account bound to the pod (here requested, there projected by the kubelet).
        mesh.tokenFile = try await tokenFile(for: pod)
        let proxy = try await ProxyRuntime.start(.init(host: "127.0.0.1", port: 0, mesh: mesh), upstream: ClientConfig(server: serverURL))
        let proxyTask = Task { await proxy.run() }
        var election = LeaderElector.Configuration(namespace: DemoMembers.namespace, name: DemoMembers.lockName, identity: pod)
        election.retryPeriod = .seconds(1)
        // A tuned client (the runtime's default is 50 QPS): the demo's shards write thousands of pods.
        let manager = Manager(client: RESTClient(config: ClientConfig(server: "http://127.0.0.1:\(proxy.port)"), qps: 500, burst: 1000),
                              options: .init(leaderElection: election))
        _ = CloneSetController(manager: manager, identity: pod, workers: 4)
        let operatorTask = Task { try await manager.run() }
        members[ordinal] = Member(pod: pod, proxy: proxy, proxyTask: proxyTask, manager: manager, operatorTask: operatorTask)
    }

    /// Stops the pod the way Kubernetes would on a scale-down: the operator ends (releasing its
    /// lock), the proxy fences and releases its liveness lease, the Pod object goes.
    func stop(_ ordinal: Int) async {
        guard let member = members.removeValue(forKey: ordinal) else { return }
        member.manager.stop()
        _ = await member.operatorTask.result
        await member.manager.client.connection.shutdown()
        member.proxyTask.cancel()
        _ = await member.proxyTask.value
        await member.proxy.leaveMesh()
        await member.proxy.close()
        _ = try? await client.delete(GroupVersionResource.pods, namespace: DemoMembers.namespace, name: member.pod)
    }

    func stopAll() async {
        for ordinal in members.keys.sorted() { await stop(ordinal) }
        try? FileManager.default.removeItem(atPath: tokenDirectory)
    }
}
