import Crypto
import Foundation
import KubeModel

/// Service-account tokens as the API server issues and reviews them, enough for a client to
/// prove which pod it runs in: `serviceaccounts/<name>/token` (TokenRequest, what `kubectl
/// create token` and the kubelet's projected tokens use) issues a signed token for audiences,
/// optionally bound to a Pod; `tokenreviews` (TokenReview) says whose a token is. A bound
/// token stops being valid when its pod or service account is gone or replaced (another uid),
/// and the review names the pod in the user's extras, as the API server does.
///
/// Tokens are HMAC-SHA256 signed (not JWTs verifiable by others: only this server reviews
/// them), with a key kept in the data directory so they survive a restart.
struct ServiceAccountTokens: Sendable {
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    static let defaultAudience = "https://kubernetes.default.svc"
    static let prefix = "ctrlmesh-sa."

    init(key: [UInt8]?) {
        self.keyBytes = key ?? SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// The signing key kept in `directory` (made on first use, readable by the owner only), so
    /// tokens outlive a restart of the server.
    static func persistentKey(in directory: String) throws -> [UInt8] {
        let path = (directory as NSString).appendingPathComponent("token-signing.key")
        if let data = FileManager.default.contents(atPath: path), data.count == 32 { return Array(data) }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard FileManager.default.createFile(atPath: path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw StatusError.internalError("cannot write the token signing key \(path)")
        }
        return key
    }

    /// What a token says, signed.
    struct Claims: Equatable {
        var namespace: String
        var serviceAccount: String
        var serviceAccountUID: String
        var audiences: [String]
        var expires: Int64
        var pod: BoundObject?

        struct BoundObject: Equatable {
            var name: String
            var uid: String
        }

        var json: JSON {
            var object: JSON = ["ns": .string(namespace), "sa": .string(serviceAccount), "saUID": .string(serviceAccountUID),
                                "aud": .array(audiences.map { .string($0) }), "exp": .int64(expires)]
            if let pod { object.setValue(["name": .string(pod.name), "uid": .string(pod.uid)], at: ["pod"]) }
            return object
        }

        init(namespace: String, serviceAccount: String, serviceAccountUID: String, audiences: [String], expires: Int64,
             pod: BoundObject?) {
            self.namespace = namespace
            self.serviceAccount = serviceAccount
            self.serviceAccountUID = serviceAccountUID
            self.audiences = audiences
            self.expires = expires
            self.pod = pod
        }

        init?(json: JSON) {
            guard let namespace = json["ns"]?.stringValue, let account = json["sa"]?.stringValue, let uid = json["saUID"]?.stringValue,
                  let audiences = json["aud"]?.arrayValue?.compactMap(\.stringValue), let expires = json["exp"]?.intValue else { return nil }
            var pod: BoundObject?
            if let bound = json["pod"] {
                guard let name = bound["name"]?.stringValue, let podUID = bound["uid"]?.stringValue else { return nil }
                pod = BoundObject(name: name, uid: podUID)
            }
            self.init(namespace: namespace, serviceAccount: account, serviceAccountUID: uid, audiences: audiences, expires: expires, pod: pod)
        }
    }

    func issue(_ claims: Claims) -> String {
        let payload = Data(claims.json.serialized())
        let signature = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return ServiceAccountTokens.prefix + ServiceAccountTokens.base64URL(payload) + "." + ServiceAccountTokens.base64URL(Data(signature))
    }

    /// The claims of a token this server signed; nil for anything else.
    func verify(_ token: String) -> Claims? {
        guard token.hasPrefix(ServiceAccountTokens.prefix) else { return nil }
        let parts = token.dropFirst(ServiceAccountTokens.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = ServiceAccountTokens.data(base64URL: parts[0]),
              let signature = ServiceAccountTokens.data(base64URL: parts[1]),
              HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: payload, using: key),
              let json = try? JSON.parse(Array(payload)) else { return nil }
        return Claims(json: json)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
