/// PEM files for one side of the manager ⇄ proxy mTLS: its own certificate and key, and the CA
/// the other side's certificate must be signed by.
public struct MutualTLSFiles: Sendable, Equatable {
    public var certificate: String
    public var privateKey: String
    public var trustedCA: String

    public init(certificate: String, privateKey: String, trustedCA: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.trustedCA = trustedCA
    }
}

/// How a proxy's session with the manager is secured.
public enum ManagerTLS: Sendable, Equatable {
    /// mTLS: the proxy presents its own certificate, and the manager's must chain to the CA.
    case mutual(MutualTLSFiles)
    /// TLS whose server certificate must chain to this CA (PEM); the proxy proves its pod
    /// with its token, which TLS keeps secret.
    case verifyingServer(caPEM: String)
}
