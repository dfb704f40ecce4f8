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
