import KubeModel

/// Adds the proxy to an operator pod spec, so the operator reaches the API server through it
/// without a code change. Pure: the webhook and `ctrlmesh inject` both call it.
///
/// The proxy runs as a native sidecar (an init container with `restartPolicy: Always`, whose
/// startup probe passes once it listens), so it is up before the operator starts and stops
/// after it. It writes a kubeconfig pointing at itself into a shared `emptyDir`, and every
/// operator container gets `KUBECONFIG` naming that file. The proxy alone mounts a projected
/// service-account token for the manager's audience, bound to the pod, which proves the pod to
/// the manager; it trusts the manager's certificate through `managerCAPEM`. Idempotent: a spec
/// that already has the proxy comes back unchanged.
public struct SidecarInjection: Sendable, Equatable {
    public var image: String
    /// Manager addresses, host:port[,host:port].
    public var managers: String
    public var listenPort = 5443
    public var metricsPort = 5441
    public var cpuRequest = "50m"
    public var memoryRequest = "64Mi"
    public var memoryLimit = "256Mi"
    /// The CA the manager's certificate is signed by (PEM): the proxy speaks TLS to the
    /// manager and trusts only it. Nil: the proxy speaks plaintext (a local run).
    public var managerCAPEM: String?
    /// How long the projected token lives; the kubelet renews it before then.
    public var tokenSeconds = 3600

    public static let containerName = "ctrlmesh-proxy"
    public static let volumeName = "ctrlmesh-proxy"
    public static let mountPath = "/var/run/ctrlmesh"
    public static let tokenVolumeName = "ctrlmesh-token"
    public static let tokenMountPath = "/var/run/secrets/ctrlmesh"
    public static let injectedAnnotation = "ctrlmesh.kruise.io/proxy-injected"

    public init(image: String, managers: String) {
        self.image = image
        self.managers = managers
    }

    public var kubeconfigPath: String { "\(SidecarInjection.mountPath)/kubeconfig" }

    /// Whether the pod spec already carries the proxy.
    public static func isInjected(_ podSpec: JSON) -> Bool {
        let names = ((podSpec["initContainers"]?.arrayValue ?? []) + (podSpec["containers"]?.arrayValue ?? []))
            .compactMap { $0["name"]?.stringValue }
        return names.contains(containerName)
    }

    /// Where a kind that runs pods keeps its pod spec; nil for every other kind.
    public static func podSpecPath(kind: String?) -> [String]? {
        switch kind {
        case "Pod": ["spec"]
        case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CloneSet": ["spec", "template", "spec"]
        default: nil
        }
    }

    /// The pod spec with the proxy added, or nil when it already has it.
    public func inject(podSpec: JSON) -> JSON? {
        guard !SidecarInjection.isInjected(podSpec) else { return nil }
        var spec = podSpec
        spec.setValue(.array((spec["initContainers"]?.arrayValue ?? []) + [proxyContainer]), at: ["initContainers"])
        let containers = (spec["containers"]?.arrayValue ?? []).map(operatorContainer)
        spec.setValue(.array(containers), at: ["containers"])
        let volume: JSON = ["name": .string(SidecarInjection.volumeName), "emptyDir": [:]]
        let token: JSON = ["name": .string(SidecarInjection.tokenVolumeName), "projected": ["sources": [["serviceAccountToken": [
            "audience": .string(TokenReviewProof.audience), "expirationSeconds": .int(tokenSeconds), "path": "token",
        ]]]]]
        spec.setValue(.array((spec["volumes"]?.arrayValue ?? []) + [volume, token]), at: ["volumes"])
        return spec
    }

    var proxyContainer: JSON {
        func fieldEnv(_ name: String, _ path: String) -> JSON {
            ["name": .string(name), "valueFrom": ["fieldRef": ["fieldPath": .string(path)]]]
        }
        let probe: (String) -> JSON = { path in ["httpGet": ["path": .string(path), "port": .int(metricsPort)], "periodSeconds": 2] }
        var startup = probe("/healthz")
        startup.setValue(.int(30), at: ["failureThreshold"])
        return [
            "name": .string(SidecarInjection.containerName),
            "image": .string(image),
            "restartPolicy": "Always",
            "args": .array([
                "proxy", "--in-cluster", "--listen", .string("127.0.0.1:\(listenPort)"),
                "--metrics-listen", .string("0.0.0.0:\(metricsPort)"), "--manager", .string(managers),
                "--kubeconfig-out", .string(kubeconfigPath), "--manager-token-file", .string("\(SidecarInjection.tokenMountPath)/token"),
            ]),
            "env": .array([fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                           fieldEnv("CTRLMESH_SERVICE_ACCOUNT", "spec.serviceAccountName")]
                          + (managerCAPEM.map { [["name": "CTRLMESH_MANAGER_CA_PEM", "value": .string($0)]] } ?? [])),
            "ports": [["name": "proxy-metrics", "containerPort": .int(metricsPort), "protocol": "TCP"]],
            "startupProbe": startup,
            "readinessProbe": probe("/readyz"),
            "livenessProbe": probe("/healthz"),
            "resources": ["requests": ["cpu": .string(cpuRequest), "memory": .string(memoryRequest)],
                          "limits": ["memory": .string(memoryLimit)]],
            "volumeMounts": [["name": .string(SidecarInjection.volumeName), "mountPath": .string(SidecarInjection.mountPath)],
                             ["name": .string(SidecarInjection.tokenVolumeName), "mountPath": .string(SidecarInjection.tokenMountPath),
                              "readOnly": true]],
        ]
    }

    func operatorContainer(_ container: JSON) -> JSON {
        var container = container
        let env = (container["env"]?.arrayValue ?? []).filter { $0["name"]?.stringValue != "KUBECONFIG" }
        container.setValue(.array(env + [["name": "KUBECONFIG", "value": .string(kubeconfigPath)]]), at: ["env"])
        let mount: JSON = ["name": .string(SidecarInjection.volumeName), "mountPath": .string(SidecarInjection.mountPath), "readOnly": true]
        container.setValue(.array((container["volumeMounts"]?.arrayValue ?? []) + [mount]), at: ["volumeMounts"])
        return container
    }

    /// Injects into a manifest object: a Pod, or the pod template of a Deployment, StatefulSet,
    /// DaemonSet, ReplicaSet, Job or CloneSet. Returns nil for other kinds and for objects
    /// that already have the proxy.
    public func inject(object: JSON) -> JSON? {
        guard let path = SidecarInjection.podSpecPath(kind: object["kind"]?.stringValue),
              let podSpec = object.value(at: path), let injected = inject(podSpec: podSpec) else { return nil }
        var result = object
        result.setValue(injected, at: path)
        let metadataPath = path.count == 1 ? ["metadata"] : ["spec", "template", "metadata"]
        result.setValue("true", at: metadataPath + ["annotations", SidecarInjection.injectedAnnotation])
        return result
    }
}
