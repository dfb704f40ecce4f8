import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A throwaway CA and a serving certificate signed by it, for local TLS: the CA goes into the
/// kubeconfig, the serving certificate (valid for localhost and 127.0.0.1) into the server.
public struct SelfSignedCertificates: Sendable {
    public let caCertificatePEM: String
    public let certificatePEM: String
    public let privateKeyPEM: String

    /// The moment both certificates expire.
    public let notValidAfter: Date

    public init(commonName: String = "ctrlmesh", hosts: [String] = ["localhost", "127.0.0.1", "::1"],
                validFor: TimeInterval = 365 * 86400) throws {
        let now = Date()
        notValidAfter = now.addingTimeInterval(validFor)
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("\(commonName)-ca") }
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: notValidAfter,
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = []
        for host in hosts {
            if let ip = IPAddressBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ip.bytes[...])))
            } else {
                names.append(.dnsName(host))
            }
        }
        let subject = try DistinguishedName { CommonName(commonName) }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: notValidAfter,
            issuer: caName, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))

        caCertificatePEM = try ca.serializeAsPEM().pemString + "\n"
        certificatePEM = try cert.serializeAsPEM().pemString + "\n"
        privateKeyPEM = key.pemRepresentation + "\n"
    }

    /// A server context offering h2 and http/1.1 through ALPN.
    public func serverContext() throws -> NIOSSLContext {
        try SelfSignedCertificates.serverContext(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM)
    }

    /// A server context for a PEM certificate and key, offering h2 and http/1.1 through ALPN.
    public static func serverContext(certificatePEM: String, privateKeyPEM: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
        configuration.applicationProtocols = ["h2", "http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// IPv4 or IPv6 text to bytes (4 or 16), nil for anything else: for certificate subject
/// alternative names, and to tell an address literal from a host name.
public struct IPAddressBytes: Sendable {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            return
        }
        return nil
    }
}
