import Foundation
import KubeModel
import Logging
import MeshHTTP
import NIOSSL
import Synchronization

/// The API server with its listener, store and kubeconfig: what `ctrlmesh apiserver` and
/// `ctrlmesh demo` run, and what tests start in-process.
public final class EmbeddedAPIServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 0
        public var dataDirectory: String?
        public var tls = false
        public var options = APIServer.Options()
        public var historyLimit = 20_000
        /// Events queued for one slow watcher before its watch ends with 410 Expired.
        public var watcherBufferLimit = 200_000

        public init() {}
    }

    public let api: APIServer
    public let http: HTTPServer
    public let url: String
    public let caCertificatePEM: String?

    public static func start(_ configuration: Configuration, logger: Logger = Logger(label: "ctrlmesh.apiserver")) async throws -> EmbeddedAPIServer {
        let persistence: any Persistence
        if let dir = configuration.dataDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            persistence = try SQLitePersistence(path: (dir as NSString).appendingPathComponent("state.db"))
        } else {
            persistence = NoPersistence()
        }
        let store = try ObjectStore(persistence: persistence, historyLimit: configuration.historyLimit,
                                    watcherBufferLimit: configuration.watcherBufferLimit)
        var certificates: SelfSignedCertificates?
        var tlsContext: NIOSSLContext?
        if configuration.tls {
            let certs = try SelfSignedCertificates(commonName: "ctrlmesh-apiserver", hosts: ["localhost", configuration.host, "127.0.0.1"])
            tlsContext = try certs.serverContext()
            certificates = certs
        }
        var options = configuration.options
        if let dir = configuration.dataDirectory, options.tokenSigningKey == nil {
            options.tokenSigningKey = try ServiceAccountTokens.persistentKey(in: dir)
        }
        // The address goes into /api once the port is known; the responder reads it per request.
        let responderBox = ResponderBox()
        let http = try await HTTPServer.start(.init(host: configuration.host, port: configuration.port, tls: tlsContext,
                                                    maxBodyBytes: options.maxBodyBytes), responder: responderBox)
        options.serverAddress = "\(configuration.host):\(http.port)"
        let api = try APIServer(store: store, options: options, logger: logger)
        responderBox.set(api)
        let scheme = configuration.tls ? "https" : "http"
        return EmbeddedAPIServer(api: api, http: http, url: "\(scheme)://\(configuration.host):\(http.port)",
                                 caCertificatePEM: certificates?.caCertificatePEM)
    }

    init(api: APIServer, http: HTTPServer, url: String, caCertificatePEM: String?) {
        self.api = api
        self.http = http
        self.url = url
        self.caCertificatePEM = caCertificatePEM
    }

    /// A kubeconfig for this server (current context `ctrlmesh`).
    public func kubeconfig() -> String {
        var cluster = "    server: \(url)\n"
        if let ca = caCertificatePEM {
            cluster += "    certificate-authority-data: \(Data(ca.utf8).base64EncodedString())\n"
        }
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: ctrlmesh
              cluster:
            \(cluster)contexts:
            - name: ctrlmesh
              context:
                cluster: ctrlmesh
                user: ctrlmesh-admin
                namespace: default
            current-context: ctrlmesh
            users:
            - name: ctrlmesh-admin
              user:
                token: ctrlmesh-embedded

            """
    }

    public func writeKubeconfig(to path: String) throws {
        try kubeconfig().write(toFile: path, atomically: true, encoding: .utf8)
    }

    public func close() async {
        await http.close()
        api.stop()
    }
}

/// Lets the listener start before the API server exists (the port goes into discovery).
final class ResponderBox: HTTPResponder {
    private let responder = Mutex<(any HTTPResponder)?>(nil)

    func set(_ responder: any HTTPResponder) {
        self.responder.withLock { $0 = responder }
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async {
        let responder = self.responder.withLock { $0 }
        guard let responder else {
            await writer.respond(status: .serviceUnavailable, headers: ["content-type": "application/json", "retry-after": "1"],
                                 body: StatusError(code: 503, reason: .serviceUnavailable, message: "the server is starting").statusObject.serialized())
            return
        }
        await responder.respond(to: request, writer: writer)
    }
}

extension APIServer {
    /// Creates an object directly (no admission), for seeding: the same checks and system
    /// fields as a POST.
    @discardableResult
    public func createObject(_ json: JSON) throws -> StoredObject {
        let gv = GroupVersion(apiVersion: json.apiVersion ?? "")
        guard let kind = json.kind, let resource = registry.resource(forKind: kind, group: gv.group) else {
            throw StatusError.badRequest("no resource serves \(json.apiVersion ?? "") \(json.kind ?? "")")
        }
        var object = json
        try ObjectRules.checkBody(&object, info: resource, urlNamespace: resource.namespaced ? (object.namespace ?? "default") : nil)
        try ObjectRules.normalizeBuiltin(&object, info: resource)
        if resource.namespaced { try checkNamespaceAcceptsCreate(object.namespace ?? "") }
        try ObjectRules.validate(object, info: resource)
        ObjectRules.prepareCreate(&object, info: resource, now: Timestamp.now())
        try lifecycleBeforeWrite(&object, old: nil, resource: resource)
        return try commitWithLifecycle(resource, ObjectKey(namespace: object.namespace ?? "", name: object.name ?? ""), .put(object),
                                       precondition: .mustNotExist, new: object)
    }
}
