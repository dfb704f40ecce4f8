import Foundation
import KubeClient
import KubeModel
import Logging
import MeshHTTP
import Synchronization

/// The webhooks' serving certificate, shared by every manager replica through the Secret
/// `ctrlmesh-webhook-tls` in the manager's namespace, so a request the Service sends to any
/// replica is served with a certificate the registered caBundle trusts. The first replica to
/// find the Secret missing creates it; whichever replica first sees a third of its life left
/// renews it. A renewal brings a new CA, and the bundle keeps the previous CA next to it until
/// the renewal after, so replicas still serving the old certificate stay trusted while they
/// switch. Every replica re-reads the Secret periodically and swaps its serving context.
public final class WebhookCertificates: Sendable {
    struct Material: Equatable, Sendable {
        var caBundlePEM: String
        var certificatePEM: String
        var privateKeyPEM: String
        var notValidAfter: Date
    }

    public static let secretName = "ctrlmesh-webhook-tls"
    static let notAfterAnnotation = "ctrlmesh.kruise.io/not-valid-after"

    let client: RESTClient
    let namespace: String
    let hosts: [String]
    let validity: TimeInterval
    let logger: Logger
    let current = Mutex<Material?>(nil)
    public let context: ReloadableTLSContext

    init(client: RESTClient, namespace: String, hosts: [String], validity: TimeInterval, logger: Logger) async throws {
        self.client = client
        self.namespace = namespace
        self.hosts = hosts
        self.validity = validity
        self.logger = logger
        let material = try await WebhookCertificates.sync(client: client, namespace: namespace, hosts: hosts, validity: validity,
                                                           logger: logger)
        context = ReloadableTLSContext(try SelfSignedCertificates.serverContext(certificatePEM: material.certificatePEM,
                                                                                privateKeyPEM: material.privateKeyPEM))
        current.withLock { $0 = material }
    }

    /// The CA bundle the webhook configurations must carry.
    public var caBundlePEM: String { current.withLock { $0?.caBundlePEM ?? "" } }

    /// The serving certificate and key as they are now (the gRPC endpoint serves with them
    /// from start; a renewal reaches it at the next start).
    var servingPEM: (certificate: String, privateKey: String)? {
        current.withLock { material in material.map { ($0.certificatePEM, $0.privateKeyPEM) } }
    }

    /// Re-reads (and when due renews) the Secret every `interval`; when the certificate
    /// changed, serves the new one and calls `bundleChanged` with the new bundle.
    func run(interval: Duration, bundleChanged: @escaping @Sendable (String) async -> Void) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            do {
                let material = try await WebhookCertificates.sync(client: client, namespace: namespace, hosts: hosts, validity: validity,
                                                                   logger: logger)
                let previous = current.withLock { old in defer { old = material }; return old }
                guard material != previous else { continue }
                context.replace(with: try SelfSignedCertificates.serverContext(certificatePEM: material.certificatePEM,
                                                                               privateKeyPEM: material.privateKeyPEM))
                logger.info("webhook certificate now valid until \(material.notValidAfter)")
                if material.caBundlePEM != previous?.caBundlePEM { await bundleChanged(material.caBundlePEM) }
            } catch {
                logger.warning("cannot refresh the webhook certificate from \(namespace)/\(WebhookCertificates.secretName): \(error)")
            }
        }
    }

    /// The Secret's certificate: created when missing, renewed when a third of its life is left.
    static func sync(client: RESTClient, namespace: String, hosts: [String], validity: TimeInterval, logger: Logger) async throws -> Material {
        for _ in 0..<5 {
            let secret: JSON
            do {
                secret = try await client.get(.secrets, namespace: namespace, name: secretName)
            } catch let error as StatusError where error.reason == .notFound {
                let fresh = try issue(hosts: hosts, validity: validity, previousCA: nil)
                do {
                    _ = try await client.create(.secrets, namespace: namespace, object(fresh, namespace: namespace, base: nil))
                    logger.info("created the webhook certificate in \(namespace)/\(secretName)")
                    return fresh
                } catch let error as StatusError where error.reason == .alreadyExists {
                    continue  // another replica was first: use theirs
                }
            }
            guard let material = material(of: secret) else { throw ManagerError("\(namespace)/\(secretName) is not a ctrlmesh webhook certificate") }
            guard material.notValidAfter.timeIntervalSinceNow < validity / 3 else { return material }
            // Renew: a new CA and certificate; the bundle keeps the outgoing CA beside the new one.
            let outgoingCA = firstCertificate(in: material.caBundlePEM)
            let renewed = try issue(hosts: hosts, validity: validity, previousCA: outgoingCA)
            do {
                _ = try await client.update(.secrets, object(renewed, namespace: namespace, base: secret))
                logger.info("renewed the webhook certificate in \(namespace)/\(secretName)")
                return renewed
            } catch let error as StatusError where error.reason == .conflict {
                continue  // another replica renewed it first
            }
        }
        throw ManagerError("the webhook certificate Secret \(namespace)/\(secretName) kept changing")
    }

    static func issue(hosts: [String], validity: TimeInterval, previousCA: String?) throws -> Material {
        let generated = try SelfSignedCertificates(commonName: "ctrlmesh-manager", hosts: hosts, validFor: validity)
        return Material(caBundlePEM: generated.caCertificatePEM + (previousCA ?? ""), certificatePEM: generated.certificatePEM,
                        privateKeyPEM: generated.privateKeyPEM, notValidAfter: generated.notValidAfter)
    }

    static func object(_ material: Material, namespace: String, base: JSON?) -> JSON {
        func encoded(_ text: String) -> JSON { .string(Data(text.utf8).base64EncodedString()) }
        var secret: JSON = base ?? ["apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                                    "metadata": ["name": .string(secretName), "namespace": .string(namespace)]]
        secret.setValue(.string(String(Int64(material.notValidAfter.timeIntervalSince1970))),
                        at: ["metadata", "annotations", notAfterAnnotation])
        secret.setValue(["ca.crt": encoded(material.caBundlePEM), "tls.crt": encoded(material.certificatePEM),
                         "tls.key": encoded(material.privateKeyPEM)], at: ["data"])
        return secret
    }

    static func material(of secret: JSON) -> Material? {
        func decoded(_ key: String) -> String? {
            secret["data"]?[key]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        guard let ca = decoded("ca.crt"), let certificate = decoded("tls.crt"), let key = decoded("tls.key"),
              let seconds = secret["metadata"]?["annotations"]?[notAfterAnnotation]?.stringValue.flatMap(Double.init) else { return nil }
        return Material(caBundlePEM: ca, certificatePEM: certificate, privateKeyPEM: key, notValidAfter: Date(timeIntervalSince1970: seconds))
    }

    /// The first PEM certificate of a bundle.
    static func firstCertificate(in bundle: String) -> String? {
        let end = "-----END CERTIFICATE-----"
        guard let range = bundle.range(of: end) else { return nil }
        return String(bundle[..<range.upperBound]) + "\n"
    }
}
