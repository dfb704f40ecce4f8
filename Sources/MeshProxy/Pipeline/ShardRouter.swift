import KubeModel
import MeshCore
import MeshHTTP
import NIOCore
import NIOHTTP1

/// The proxy's request path, on the event loop that accepted the request:
///
///     body limit (HTTPServer) → classify → headers → upgrade → mesh objects → lock → policies
///         → fence → one executor per decision
///
/// Each stage is a `RequestStage` run in `stages` order. The fence then picks the executor:
/// a stream relay or a filtered list/watch (`ForwardExchange`), or an answer
/// (`AnswerExchange`). A request some stage hands over, or whose fence decision needs I/O of
/// its own (an object to read, a body to judge, a deletecollection to split), goes whole to
/// the async executor, `ShardProxy.respond`, which judges it in the same order.
final class ShardRouter: InlineRouter {
    let proxy: ShardProxy

    init(proxy: ShardProxy) {
        self.proxy = proxy
    }

    func route(_ head: HTTPRequestHead, downstream: Downstream) -> InlineRoute {
        // A body without a length cannot be streamed as judged: the async executor collects it.
        if head.method == .POST || head.method == .PUT || head.method == .PATCH || head.method == .DELETE,
           !head.headers.contains(name: "content-length") {
            return .handOver(routed: nil)
        }
        var request = ProxyRequest(head: head)
        switch proxy.pipeline.run(&request) {
        case .next: break
        case .handOver: return .handOver(routed: request)
        case .answer(let status):
            proxy.metrics.add(.requests)
            return .serve(AnswerExchange(downstream: downstream, status: status, metrics: proxy.metrics))
        }
        guard proxy.inFlight.enter() else {
            proxy.metrics.add(.requests)
            return .serve(AnswerExchange(downstream: downstream, status: proxy.inFlightRefusal, metrics: proxy.metrics))
        }
        let plan: Plan
        switch request.info?.verb {
        case nil:
            proxy.stamp(&request.headers, .nonResource(path: request.target.path))
            proxy.metrics.add(.passedThrough)
            plan = .forward(forward(request, target: request.target.encoded, body: .relay, downstream: downstream))
        case .list?, .watch?:
            plan = stream(request, downstream: downstream)
        default:
            plan = single(request, downstream: downstream)
        }
        switch plan {
        case .forward(let exchange):
            proxy.metrics.add(.requests)
            return .serve(exchange)  // holds its in-flight place until it ends
        case .answer(let exchange):
            proxy.inFlight.leave()
            proxy.metrics.add(.requests)
            return .serve(exchange)
        case .handOver:
            proxy.inFlight.leave()
            return .handOver(routed: request)
        }
    }

    /// The executor the fence chose for a request.
    enum Plan {
        case forward(ForwardExchange)
        case answer(AnswerExchange)
        /// Judging it needs I/O: the async executor takes it.
        case handOver
    }

    /// The upstream head of a forwarded request: the judged target and headers, the proxy's
    /// credentials when the operator sent none, the body's length when it has one.
    func upstreamHead(_ request: ProxyRequest, target: String, headers: HTTPHeaders) -> HTTPRequestHead {
        var headers = ShardProxy.upstreamHeaders(headers)
        proxy.upstream.authorize(&headers)
        if request.hasBody, let length = request.received.first(name: "content-length") {
            headers.replaceOrAdd(name: "content-length", value: length)
        }
        return HTTPRequestHead(version: .http1_1, method: request.method, uri: target, headers: headers)
    }

    func forward(_ request: ProxyRequest, target: String, body: ForwardExchange.Body, downstream: Downstream,
                 write: ShardState.WriteTicket? = nil, shardedCall: Bool = false) -> ForwardExchange {
        let exchange = ForwardExchange(proxy: proxy, downstream: downstream,
                                       head: upstreamHead(request, target: target, headers: request.headers), body: body,
                                       writeTicket: write, shardedCall: shardedCall)
        exchange.start()
        return exchange
    }

    // MARK: Single objects

    /// A single-object request the fence decides from its head: passed (stamped when the
    /// resource is sharded), refused, or handed over when judging it needs I/O.
    func single(_ request: ProxyRequest, downstream: Downstream) -> Plan {
        guard let info = request.info else { return .handOver }
        let ticket = proxy.state.beginWrite(info.groupResource)
        switch ShardFence.decide(info, spec: ticket.spec, namespaceLabels: proxy.namespaceLabels.lookup) {
        case .passThrough:
            var request = request
            if ticket.sharded, let spec = ticket.spec { ShardProxy.stampWriter(&request.headers, spec: spec, identity: proxy.writerIdentity) }
            proxy.stamp(&request.headers, .resource(info))
            proxy.metrics.add(.passedThrough)
            return .forward(forward(request, target: request.target.encoded, body: .relay, downstream: downstream, write: ticket,
                                    shardedCall: ShardProxy.isShardedCall(info, ticket)))
        case .refuse(let message):
            proxy.state.endWrite(ticket)
            return answer(.forbidden(message), downstream: downstream)
        default:
            proxy.state.endWrite(ticket)
            return .handOver
        }
    }

    // MARK: Lists and watches

    func stream(_ request: ProxyRequest, downstream: Downstream) -> Plan {
        guard let info = request.info else { return .handOver }
        let gr = info.groupResource
        let query = request.target.query
        let labels = proxy.namespaceLabels.lookup
        // Registered before the decision, so a spec change from here on revokes it.
        let handle = LoopWeak<ForwardExchange>(eventLoop: downstream.eventLoop)
        let ticket = proxy.state.registerStream(gr, abort: { handle.run { $0.abortStream() } }, onRevoke: { handle.run { $0.revoked() } })
        // Held by the exchange from here on; given back by every other way out.
        var forwarded = false
        defer { if !forwarded { proxy.state.deregister(ticket) } }
        let spec = ticket.spec
        let decision = ShardFence.decide(info, spec: spec, namespaceLabels: labels)
        var request = request
        proxy.stamp(&request.headers, .resource(info))
        let target: String
        let body: ForwardExchange.Body
        switch decision {
        case .filterList(let mode), .filterWatch(let mode):
            switch FilteredStream.refusal(info, query: query, state: proxy.state) {
            case .relist?:
                // The client's view predates a change of this shard's slice: make it relist.
                proxy.metrics.add(.watchesExpired)
                let expired = FilteredStream.expiredWatch(accept: request.received.first(name: "accept"))
                return .answer(AnswerExchange(downstream: downstream, status: .ok, headers: expired.headers, body: expired.body))
            case .staleContinue(let status)?:
                return answer(status, downstream: downstream)
            case nil:
                break
            }
            let plan = FilteredStream(info: info, target: request.target, headers: request.headers, mode: mode, spec: spec,
                                      namespaceLabels: labels)
            request.headers = plan.headers
            target = plan.target
            body = .filter(plan.makeFilter)
        case .passThrough:
            proxy.metrics.add(.passedThrough)
            target = request.target.encoded
            body = .relay
        case .refuse(let message):
            return answer(.forbidden(message), downstream: downstream)
        default:
            // No other decision is made for a list or watch; whatever it would be is judged
            // by the async executor, never relayed unjudged.
            return .handOver
        }
        let exchange = ForwardExchange(proxy: proxy, downstream: downstream,
                                       head: upstreamHead(request, target: target, headers: request.headers), body: body,
                                       isWatch: info.verb == .watch)
        handle.value = exchange
        exchange.streamTicket = ticket
        forwarded = true
        if info.verb == .watch {
            exchange.policyWatch = proxy.policies.watchOpened { handle.run { $0.policyChanged() } }
        }
        if ticket.revoked, !exchange.runsToItsEndWhenRevoked {
            // Revoked before the exchange could hear it: act on it now.
            exchange.revoked()
        } else {
            exchange.start()
        }
        return .forward(exchange)
    }

    func answer(_ status: StatusError, downstream: Downstream) -> Plan {
        .answer(AnswerExchange(downstream: downstream, status: status, metrics: proxy.metrics))
    }
}

/// A weak reference to an object of one event loop, usable from any thread: `run` hops to
/// the loop and calls the body if the object is still there.
final class LoopWeak<Value: AnyObject>: @unchecked Sendable {
    /// Set on the loop, before anything can `run`.
    weak var value: Value?
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func run(_ body: @escaping (Value) -> Void) {
        let send = UnsafeTransfer(body)
        eventLoop.execute {
            if let value = self.value { send.value(value) }
        }
    }
}

/// Carries a closure made on a loop back to that loop.
struct UnsafeTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
