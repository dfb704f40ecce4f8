@testable import MeshProxy
import NIOHTTP1
import Testing

@Suite struct HeaderTests {
    @Test func upstreamRequestsKeepTheirOwnCredentialsAndLoseHopByHopHeaders() {
        let own = ShardProxy.upstreamHeaders(["Authorization": "Bearer operator-token", "Connection": "keep-alive",
                                             "Host": "proxy", "Accept": "application/json", "Transfer-Encoding": "chunked"])
        #expect(own.first(name: "authorization") == "Bearer operator-token")
        #expect(own.first(name: "accept") == "application/json")
        #expect(!own.contains(name: "connection") && !own.contains(name: "host") && !own.contains(name: "transfer-encoding"))
        // The placeholder token of the written kubeconfig means "use the proxy's credentials".
        let local = ShardProxy.upstreamHeaders(["Authorization": "Bearer \(ShardProxy.localToken)"])
        #expect(!local.contains(name: "authorization"))
        // A tunnelled upgrade carries Connection and Upgrade to the server, and nothing else hop-by-hop.
        let upgrade = ShardProxy.upstreamHeaders(["Connection": "Upgrade", "Upgrade": "SPDY/3.1", "Host": "proxy",
                                                  "Content-Length": "0", "Keep-Alive": "5"], keepingUpgrade: true)
        #expect(upgrade.first(name: "connection") == "Upgrade" && upgrade.first(name: "upgrade") == "SPDY/3.1")
        #expect(!upgrade.contains(name: "host") && !upgrade.contains(name: "content-length") && !upgrade.contains(name: "keep-alive"))
    }

    @Test func responsesKeepContentLengthOnlyWhenUnchanged() {
        let headers: HTTPHeaders = ["Content-Length": "10", "Content-Type": "application/json", "Connection": "close"]
        #expect(ShardProxy.downstreamHeaders(headers, keepLength: true).first(name: "content-length") == "10")
        #expect(!ShardProxy.downstreamHeaders(headers, keepLength: false).contains(name: "content-length"))
        #expect(!ShardProxy.downstreamHeaders(headers, keepLength: true).contains(name: "connection"))
    }
}
