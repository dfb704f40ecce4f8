import Foundation
import KubeModel
import NIOSSL

/// A parsed kubeconfig: clusters, users and contexts by name.
struct Kubeconfig {
    let document: JSON
    /// Relative file paths in a kubeconfig are relative to the file's directory.
    let directory: String

    func named(_ section: String, _ name: String) -> JSON? {
        document[section]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    func config(context requested: String?) throws(ClientConfig.LoadError) -> ClientConfig {
        guard let contextName = requested ?? document["current-context"]?.stringValue, !contextName.isEmpty else {
            throw ClientConfig.LoadError("kubeconfig has no current-context; pass a context")
        }
        guard let context = named("contexts", contextName)?["context"] else {
            throw ClientConfig.LoadError("kubeconfig has no context \"\(contextName)\"")
        }
        guard let clusterName = context["cluster"]?.stringValue, let cluster = named("clusters", clusterName)?["cluster"] else {
            throw ClientConfig.LoadError("kubeconfig context \"\(contextName)\" names no known cluster")
        }
        guard let server = cluster["server"]?.stringValue, !server.isEmpty else {
            throw ClientConfig.LoadError("kubeconfig cluster \"\(clusterName)\" has no server")
        }
        let user = context["user"]?.stringValue.flatMap { named("users", $0)?["user"] } ?? .object(JSONObject())

        var tls: TLSConfiguration?
        if server.hasPrefix("https://") {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if cluster["insecure-skip-tls-verify"]?.boolValue == true {
                configuration.certificateVerification = .none
            } else if let pem = try bytes(cluster, data: "certificate-authority-data", file: "certificate-authority") {
                configuration.trustRoots = .certificates(try certificates(pem, what: "certificate-authority"))
            }
            if let certificate = try bytes(user, data: "client-certificate-data", file: "client-certificate") {
                guard let key = try bytes(user, data: "client-key-data", file: "client-key") else {
                    throw ClientConfig.LoadError("kubeconfig user has a client certificate but no client key")
                }
                configuration.certificateChain = try certificates(certificate, what: "client-certificate").map { .certificate($0) }
                do {
                    configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
                } catch {
                    throw ClientConfig.LoadError("kubeconfig client-key is not a PEM private key: \(error)")
                }
            }
            tls = configuration
        }

        var credentials = Credentials.none
        if let token = user["token"]?.stringValue, !token.isEmpty {
            credentials = .bearerToken(token)
        } else if let file = user["tokenFile"]?.stringValue, !file.isEmpty {
            credentials = .tokenFile(TokenFile(path: resolve(file)))
        }
        return ClientConfig(server: server, tls: tls, credentials: credentials,
                            namespace: context["namespace"]?.stringValue ?? "default")
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }

    /// Inline base64 data, or the contents of a file.
    func bytes(_ section: JSON, data: String, file: String) throws(ClientConfig.LoadError) -> [UInt8]? {
        if let encoded = section[data]?.stringValue, !encoded.isEmpty {
            guard let decoded = Data(base64Encoded: encoded) else { throw ClientConfig.LoadError("kubeconfig \(data) is not base64") }
            return Array(decoded)
        }
        if let path = section[file]?.stringValue, !path.isEmpty {
            guard let contents = FileManager.default.contents(atPath: resolve(path)) else {
                throw ClientConfig.LoadError("kubeconfig \(file): cannot read \(resolve(path))")
            }
            return Array(contents)
        }
        return nil
    }

    func certificates(_ pem: [UInt8], what: String) throws(ClientConfig.LoadError) -> [NIOSSLCertificate] {
        do {
            return try NIOSSLCertificate.fromPEMBytes(pem)
        } catch {
            throw ClientConfig.LoadError("kubeconfig \(what) is not PEM: \(error)")
        }
    }
}
