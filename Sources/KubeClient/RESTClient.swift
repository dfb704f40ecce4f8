import AsyncHTTPClient
import KubeModel
import NIOCore
import NIOHTTP1

/// A dynamic client for any resource by group/version/resource: get, list, create, update,
/// patch (merge, JSON, strategic), delete, the status subresource and watch. Every non-2xx
/// answer is thrown as the server's `StatusError`, so callers switch on `reason`. Requests
/// wait for the client-side QPS/burst limit.
public final class RESTClient: Sendable {
    public let connection: APIConnection
    let limiter: RateLimiter?
    /// Largest response body read into memory (lists of many objects are large).
    let maxBodyBytes = 1 << 30

    public init(connection: APIConnection, qps: Double? = 50, burst: Int = 100) {
        self.connection = connection
        self.limiter = qps.map { RateLimiter(qps: $0, burst: burst) }
    }

    public convenience init(config: ClientConfig, qps: Double? = 50, burst: Int = 100) {
        self.init(connection: APIConnection(config: config), qps: qps, burst: burst)
    }

    public enum PatchType: String, Sendable {
        case merge = "application/merge-patch+json"
        case json = "application/json-patch+json"
        case strategic = "application/strategic-merge-patch+json"
    }

    public struct ListOptions: Sendable {
        public var labelSelector: String?
        public var fieldSelector: String?
        public var resourceVersion: String?
        public var limit: Int?
        public var continueToken: String?

        public init(labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
                    limit: Int? = nil, continueToken: String? = nil) {
            self.labelSelector = labelSelector
            self.fieldSelector = fieldSelector
            self.resourceVersion = resourceVersion
            self.limit = limit
            self.continueToken = continueToken
        }
    }

    public func get(_ resource: GroupVersionResource, namespace: String? = nil, name: String, subresource: String? = nil) async throws -> JSON {
        try await object(.GET, ResourcePath(resource, namespace: namespace, name: name, subresource: subresource))
    }

    /// One page of a list (all of it unless `limit` is set): the items and the list metadata.
    public func list(_ resource: GroupVersionResource, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> ObjectList {
        var items: [JSON] = []
        var page = try await list(resource, namespace: namespace, options: options) { _, item in items.append(item) }
        page.items = items
        return page
    }

    /// One page of a list read item by item: `item` gets each object's exact bytes and its
    /// parsed value, so a caller that keeps bytes never holds the whole list as a tree. The
    /// returned list carries the metadata and no items.
    public func list(_ resource: GroupVersionResource, namespace: String? = nil, options: ListOptions = ListOptions(),
                     item: (UnsafeBufferPointer<UInt8>.SubSequence, JSON) -> Void) async throws -> ObjectList {
        var path = ResourcePath(resource, namespace: namespace)
        path.addSelection(options)
        path.add("limit", options.limit.map(String.init))
        path.add("continue", options.continueToken)
        let response = try await send(.GET, path.target, body: nil, contentType: nil)
        guard (200..<300).contains(response.status.code) else { throw await Self.statusError(response, limit: maxBodyBytes) }
        let body = try await response.body.collect(upTo: maxBodyBytes)
        let list = try body.withUnsafeReadableBytes { raw in
            try raw.withMemoryRebound(to: UInt8.self) { bytes in try JSON.parseList(bytes, item: item) }
        }
        return ObjectList(list)
    }

    public func create(_ resource: GroupVersionResource, namespace: String? = nil, _ object: JSON) async throws -> JSON {
        try await self.object(.POST, ResourcePath(resource, namespace: namespace), body: object)
    }

    /// POST to a subresource of one object (a service account's `token`, a pod's `eviction`).
    public func create(_ resource: GroupVersionResource, namespace: String? = nil, name: String, subresource: String,
                       _ object: JSON) async throws -> JSON {
        try await self.object(.POST, ResourcePath(resource, namespace: namespace, name: name, subresource: subresource), body: object)
    }

    /// A token of a service account bound to a pod, for `audience` (what the kubelet projects
    /// into a pod, through TokenRequest).
    public func podToken(serviceAccount: String, namespace: String, pod: String, audience: String, seconds: Int = 3600) async throws -> String {
        let request: JSON = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": ["audiences": [.string(audience)], "expirationSeconds": .int(seconds),
                                      "boundObjectRef": ["kind": "Pod", "apiVersion": "v1", "name": .string(pod)]]]
        let answer = try await create(.serviceAccounts, namespace: namespace,
                                      name: serviceAccount, subresource: "token", request)
        guard let token = answer["status"]?["token"]?.stringValue, !token.isEmpty else {
            throw StatusError.internalError("the TokenRequest answer carries no token")
        }
        return token
    }

    /// PUT of the whole object (its `metadata.resourceVersion` makes it conditional).
    public func update(_ resource: GroupVersionResource, _ object: JSON, subresource: String? = nil) async throws -> JSON {
        try await self.object(.PUT, ResourcePath(resource, namespace: object.namespace, name: object.name ?? "", subresource: subresource), body: object)
    }

    public func updateStatus(_ resource: GroupVersionResource, _ object: JSON) async throws -> JSON {
        try await update(resource, object, subresource: "status")
    }

    public func patch(_ resource: GroupVersionResource, namespace: String? = nil, name: String, type: PatchType, _ patch: JSON,
                      subresource: String? = nil) async throws -> JSON {
        try await object(.PATCH, ResourcePath(resource, namespace: namespace, name: name, subresource: subresource), body: patch,
                         contentType: type.rawValue)
    }

    /// Deletes one object; `uid` pins the delete to that incarnation of the name.
    @discardableResult
    public func delete(_ resource: GroupVersionResource, namespace: String? = nil, name: String, uid: String? = nil,
                       propagationPolicy: String? = nil) async throws -> JSON {
        var options: JSON = ["apiVersion": "v1", "kind": "DeleteOptions"]
        if let uid { options["preconditions"] = ["uid": .string(uid)] }
        if let propagationPolicy { options["propagationPolicy"] = .string(propagationPolicy) }
        return try await object(.DELETE, ResourcePath(resource, namespace: namespace, name: name), body: options)
    }

    /// Opens a watch. Events arrive as the server sends them; an ERROR event is thrown as its
    /// `StatusError` (410 Expired means: relist).
    public func watch(_ resource: GroupVersionResource, namespace: String? = nil, options: ListOptions = ListOptions(),
                      timeoutSeconds: Int? = nil, allowBookmarks: Bool = true) async throws -> WatchStream {
        var path = ResourcePath(resource, namespace: namespace)
        path.add("watch", "true")
        path.addSelection(options)
        path.add("timeoutSeconds", timeoutSeconds.map(String.init))
        if allowBookmarks { path.add("allowWatchBookmarks", "true") }
        let response = try await send(.GET, path.target, body: nil, contentType: nil)
        guard response.status == .ok else { throw await Self.statusError(response, limit: maxBodyBytes) }
        return WatchStream(body: response.body)
    }

    /// A request whose answer is one JSON object.
    func object(_ method: HTTPMethod, _ path: ResourcePath, body: JSON? = nil, contentType: String = "application/json") async throws -> JSON {
        let response = try await send(method, path.target, body: body, contentType: contentType)
        guard (200..<300).contains(response.status.code) else { throw await Self.statusError(response, limit: maxBodyBytes) }
        let bytes = try await response.body.collect(upTo: maxBodyBytes)
        return try JSON.parse(bytes.readableBytesView)
    }

    func send(_ method: HTTPMethod, _ target: String, body: JSON?, contentType: String?) async throws -> HTTPClientResponse {
        try await limiter?.wait()
        var headers: HTTPHeaders = ["accept": "application/json", "user-agent": "ctrlmesh-runtime"]
        var buffer: ByteBuffer?
        if let body {
            headers.add(name: "content-type", value: contentType ?? "application/json")
            buffer = ByteBuffer(bytes: body.serialized())
        }
        return try await connection.send(method: method, target: target, headers: headers, body: buffer)
    }

    /// The server's `Status`, or one made from the HTTP status when the body is not a Status.
    static func statusError(_ response: HTTPClientResponse, limit: Int) async -> StatusError {
        let bytes = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
        if let json = try? JSON.parse(bytes), let status = StatusError(statusObject: json) { return status }
        let code = Int(response.status.code)
        return StatusError(code: code, reason: StatusError.Reason(httpCode: code),
                           message: String(decoding: bytes.prefix(512), as: UTF8.self))
    }
}

/// A list response: its items and the list's resourceVersion and continue token.
public struct ObjectList: Sendable {
    public var items: [JSON]
    public var resourceVersion: String
    public var continueToken: String?

    public init(items: [JSON], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }

    init(_ list: JSON) {
        items = list["items"]?.arrayValue ?? []
        resourceVersion = list["metadata"]?["resourceVersion"]?.stringValue ?? ""
        continueToken = list["metadata"]?["continue"]?.stringValue
    }
}

extension StatusError.Reason {
    /// The reason client-go assumes for a bare HTTP status.
    public init(httpCode: Int) {
        switch httpCode {
        case 400: self = .badRequest
        case 401: self = .unauthorized
        case 403: self = .forbidden
        case 404: self = .notFound
        case 405: self = .methodNotAllowed
        case 409: self = .conflict
        case 410: self = .gone
        case 413: self = .requestEntityTooLarge
        case 415: self = .unsupportedMediaType
        case 422: self = .invalid
        case 429: self = .tooManyRequests
        case 503: self = .serviceUnavailable
        case 504: self = .timeout
        default: self = .internalError
        }
    }
}

extension ResourcePath {
    /// The selectors and resourceVersion that lists and watches share.
    mutating func addSelection(_ options: RESTClient.ListOptions) {
        add("labelSelector", options.labelSelector)
        add("fieldSelector", options.fieldSelector)
        add("resourceVersion", options.resourceVersion)
    }
}
