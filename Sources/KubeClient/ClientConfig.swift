import Foundation
import KubeModel
import KubeYAML
import NIOSSL
import Synchronization

/// Where the API server is and how to authenticate to it: from a kubeconfig file or from the
/// pod's service account (in-cluster), as client-go's `clientcmd` and `rest.InClusterConfig`.
public struct ClientConfig: Sendable {
    /// `https://host:port` or `http://host:port`, without a trailing slash.
    public var server: String
    public var tls: TLSConfiguration?
    public var credentials: Credentials
    /// The context's default namespace.
    public var namespace: String

    public init(server: String, tls: TLSConfiguration? = nil, credentials: Credentials = .none, namespace: String = "default") {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.tls = tls
        self.credentials = credentials
        self.namespace = namespace
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The config a command line asks for: `--kubeconfig`, else `$KUBECONFIG`, else in-cluster
    /// when running in a pod, else `~/.kube/config`.
    public static func resolve(kubeconfig: String?, context: String? = nil) throws(LoadError) -> ClientConfig {
        let environment = ProcessInfo.processInfo.environment
        if let kubeconfig, !kubeconfig.isEmpty { return try load(kubeconfigPath: kubeconfig, context: context) }
        if let path = environment["KUBECONFIG"]?.split(separator: ":").first, !path.isEmpty {
            return try load(kubeconfigPath: String(path), context: context)
        }
        if environment["KUBERNETES_SERVICE_HOST"] != nil { return try inCluster() }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return try load(kubeconfigPath: home + "/.kube/config", context: context)
    }

    /// The service account of the pod this runs in.
    public static func inCluster(root: String = "/var/run/secrets/kubernetes.io/serviceaccount") throws(LoadError) -> ClientConfig {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw LoadError("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(root + "/ca.crt"))
        } catch {
            throw LoadError("in-cluster config: cannot read \(root)/ca.crt: \(error)")
        }
        let namespace = (try? String(contentsOfFile: root + "/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "default"
        return ClientConfig(server: "https://\(hostPart):\(port)", tls: tls,
                            credentials: .tokenFile(TokenFile(path: root + "/token")), namespace: namespace)
    }

    /// The current (or named) context of a kubeconfig file.
    public static func load(kubeconfigPath path: String, context: String? = nil) throws(LoadError) -> ClientConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw LoadError("cannot read kubeconfig \(path): \(error.localizedDescription)")
        }
        let document: JSON
        do {
            document = try YAMLDocument.parse(text)
        } catch {
            throw LoadError("kubeconfig \(path): \(error)")
        }
        return try Kubeconfig(document: document, directory: (path as NSString).deletingLastPathComponent).config(context: context)
    }
}

/// How requests authenticate.
public enum Credentials: Sendable {
    case none
    case bearerToken(String)
    /// A token file re-read when it may have rotated (projected service-account tokens).
    case tokenFile(TokenFile)

    /// The `Authorization` header value, if any.
    public func authorizationHeader() -> String? {
        switch self {
        case .none: nil
        case .bearerToken(let token): "Bearer \(token)"
        case .tokenFile(let file): file.token().map { "Bearer \($0)" }
        }
    }
}

/// A token read from a file and re-read at most once a minute, as client-go does for
/// service-account tokens, so a rotated token is picked up without a restart.
public final class TokenFile: Sendable {
    public let path: String
    let cached = TokenCache()

    public init(path: String) {
        self.path = path
    }

    public func token(now: Date = Date()) -> String? {
        if let token = cached.value(validAt: now) { return token }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return cached.stale() }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        cached.store(token, until: now.addingTimeInterval(60))
        return token
    }
}

final class TokenCache: Sendable {
    let state = Mutex<(token: String?, expiry: Date)>((nil, .distantPast))

    func value(validAt now: Date) -> String? {
        state.withLock { $0.expiry > now ? $0.token : nil }
    }

    func stale() -> String? { state.withLock { $0.token } }

    func store(_ token: String, until expiry: Date) {
        state.withLock { $0 = (token, expiry) }
    }
}
