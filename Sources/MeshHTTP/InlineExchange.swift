import NIOCore
import NIOHTTP1

/// Serves a request on the event loop of the connection that accepted it, part by part,
/// instead of collecting it for an async responder. The router decides from the head alone,
/// synchronously; whatever it does not take goes to the server's `HTTPResponder` as before.
public protocol InlineRouter: Sendable {
    /// Called on the event loop with each request head (its body, if any, has a known length
    /// within the server's limit): serve it here, or hand the whole request to the async
    /// responder.
    func route(_ head: HTTPRequestHead, downstream: Downstream) -> InlineRoute
}

/// What an inline router makes of a request head.
public enum InlineRoute {
    /// Served on the event loop by this exchange.
    case serve(any InlineExchange)
    /// Collected whole and handed to the async responder, with what the router already made
    /// of it (`ServerRequest.routed`), so the responder need not work it out again.
    case handOver(routed: (any Sendable)?)
}

/// One request served on the event loop. Every call arrives on that loop; the exchange
/// answers through its `Downstream`, whose `end` or `abort` finishes it.
public protocol InlineExchange: AnyObject {
    func requestBody(_ buffer: ByteBuffer)
    func requestEnd()
    /// The client's side became writable (or stopped being so): reading upstream follows it.
    func downstreamWritabilityChanged()
    /// The client went away: release whatever the exchange holds.
    func cancel()
}
