import KubeClient
import KubeModel
import MeshHTTP
import NIOCore
import NIOHTTP1
import NIOSSL

/// exec, attach and port-forward upgrade their HTTP/1.1 connection (SPDY or WebSocket). Once
/// the shard allows the request, the proxy sends it upstream on a connection of its own and
/// then carries bytes both ways unchanged.
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

    /// Forwards a request the shard allows, admitted as `write`: relayed, or tunnelled when it
    /// upgrades; not at all when the write may no longer leave (`ShardState.departureRefusal`).
    func forward(_ request: ServerRequest, info: RequestInfo, write: ShardState.WriteTicket, writer: ResponseWriter) async {
        if let refusal = state.departureRefusal(write) {
            metrics.add(.writesAborted)
            return await refuse(refusal, writer: writer)
        }
        let shardedCall = ShardProxy.isShardedCall(info, write)
        guard ShardProxy.isUpgrade(request.headers, isHTTP2: request.isHTTP2, info: info) else {
            return await relay(request, writer: writer, shardedCall: shardedCall)
        }
        do {
            let target = try tunnelTarget()
            try await writer.tunnel(to: target, requestHead: upgradeHead(request))
        } catch {
            await upstreamFailed(error, writer: writer, shardedCall: shardedCall)
        }
    }

    /// The upgrade request as the API server must see it: its own Host, the target under the
    /// server's path, the proxy's credentials when the operator sent none, the upgrade headers
    /// kept.
    func upgradeHead(_ request: ServerRequest) -> ByteBuffer {
        var headers = ShardProxy.upstreamHeaders(request.headers, keepingUpgrade: true)
        headers.add(name: "host", value: pool.endpoint.authority)
        upstream.authorize(&headers)
        if request.body.readableBytes > 0 { headers.add(name: "content-length", value: String(request.body.readableBytes)) }
        var head = "\(request.method.rawValue) \(pool.endpoint.pathPrefix)\(request.uri) HTTP/1.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeImmutableBuffer(request.body)
        return buffer
    }

    /// The API server as the pool reaches it, on a connection of the tunnel's own: over TLS
    /// with ALPN http/1.1 only, since upgrades exist only in HTTP/1.1.
    func tunnelTarget() throws -> TunnelTarget {
        let endpoint = pool.endpoint
        var tls: NIOSSLContext?
        if endpoint.tls != nil {
            var configuration = upstream.config.tls ?? TLSConfiguration.makeClientConfiguration()
            configuration.applicationProtocols = ["http/1.1"]
            tls = try NIOSSLContext(configuration: configuration)
        }
        let isAddress = endpoint.host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
        return TunnelTarget(host: endpoint.host, port: endpoint.port, tls: tls, serverHostname: isAddress ? nil : endpoint.host)
    }
}
