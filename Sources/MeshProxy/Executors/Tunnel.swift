import KubeClient
import KubeModel
import MeshHTTP
import NIOCore
import NIOHTTP1
import NIOSSL

/// exec, attach and port-forward upgrade their HTTP/1.1 connection (SPDY or WebSocket).
extension ShardProxy {
    /// Whether a request is a tunnel to open: an HTTP/1.1 upgrade of one of the subresources
    /// the API server upgrades. Any other request's `Upgrade` is a hop-by-hop header the proxy
    /// drops, so no upstream can switch a judged request into an unjudged byte stream.
    static func isUpgrade(_ headers: HTTPHeaders, isHTTP2: Bool, info: RequestInfo?) -> Bool {
        guard !isHTTP2, let info, tunnelsUpgrade(info), headers.contains(name: "upgrade") else { return false }
        return headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    /// exec, attach and port-forward of pods, and the proxy subresources (WebSocket or SPDY).
    static func tunnelsUpgrade(_ info: RequestInfo) -> Bool {
        switch (info.resource, info.subresource) {
        case ("pods", "exec"?), ("pods", "attach"?), ("pods", "portforward"?), ("pods", "proxy"?), ("services", "proxy"?), ("nodes", "proxy"?):
            info.group.isEmpty
        default:
            false
        }
    }
}

/// An exec, attach or port-forward the shard allows: the request goes upstream on a connection
/// of its own, and once the server switches protocols the bytes are carried both ways
/// unchanged.
struct Tunnel: AsyncExecutor {
    let proxy: ShardProxy
    let shardedCall: Bool

    func run(_ call: AsyncCall) async {
        do {
            let target = try Tunnel.target(proxy: proxy)
            try await call.writer.tunnel(to: target, requestHead: Tunnel.upgradeHead(call.request, proxy: proxy))
        } catch {
            await proxy.upstreamFailed(error, writer: call.writer, shardedCall: shardedCall)
        }
    }

    /// The upgrade request as the API server must see it: its own Host, the target under the
    /// server's path, the proxy's credentials when the operator sent none, the upgrade headers
    /// kept.
    static func upgradeHead(_ request: ServerRequest, proxy: ShardProxy) -> ByteBuffer {
        var headers = ShardProxy.upstreamHeaders(request.headers, keepingUpgrade: true)
        headers.add(name: "host", value: proxy.pool.endpoint.authority)
        proxy.upstream.authorize(&headers)
        if request.body.readableBytes > 0 { headers.add(name: "content-length", value: String(request.body.readableBytes)) }
        var head = "\(request.method.rawValue) \(proxy.pool.endpoint.pathPrefix)\(request.uri) HTTP/1.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeImmutableBuffer(request.body)
        return buffer
    }

    /// The API server as the pool reaches it, on a connection of the tunnel's own: over TLS
    /// with ALPN http/1.1 only, since upgrades exist only in HTTP/1.1.
    static func target(proxy: ShardProxy) throws -> TunnelTarget {
        let endpoint = proxy.pool.endpoint
        var tls: NIOSSLContext?
        if endpoint.tls != nil {
            var configuration = proxy.upstream.config.tls ?? TLSConfiguration.makeClientConfiguration()
            configuration.applicationProtocols = ["http/1.1"]
            tls = try NIOSSLContext(configuration: configuration)
        }
        let isAddress = endpoint.host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
        return TunnelTarget(host: endpoint.host, port: endpoint.port, tls: tls, serverHostname: isAddress ? nil : endpoint.host)
    }
}
