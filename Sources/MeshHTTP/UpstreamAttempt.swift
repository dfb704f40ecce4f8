import NIOHTTP1

/// Where one upstream request is, from asking for a connection to the end of its answer, and
/// what a connection failure means at each point. Both upstream executors (the event-loop
/// `InlineExchange`s and `UpstreamPool.send`) follow it, so the one retry rule lives here: a
/// GET that fails on a reused keep-alive connection before any answer (the server had just
/// closed it) is sent once more on a new connection; nothing else is.
public struct UpstreamAttempt: Sendable {
    public enum Phase: Sendable {
        /// Waiting for a connection of the pool.
        case connecting
        /// The head went out; no answer yet.
        case sent
        /// The answer is coming.
        case streaming
        case done
    }

    /// What a failure of the connection means now.
    public enum Failure: Sendable {
        /// The request is over (or has no connection yet): nothing to do.
        case ignored
        /// Send the request again on a new connection (the phase is `connecting` again).
        case retry
        /// No answer will come: tell the caller.
        case beforeAnswer
        /// The answer broke off part way.
        case midAnswer
    }

    public private(set) var phase = Phase.connecting
    var retried = false
    let method: HTTPMethod

    public init(method: HTTPMethod) {
        self.method = method
    }

    /// Whether no answer has begun and none has been given up on.
    public var awaitingAnswer: Bool { phase == .connecting || phase == .sent }

    public mutating func sent() { phase = .sent }
    public mutating func answering() { phase = .streaming }
    public mutating func finished() { phase = .done }

    /// The connection failed with `error`; `reused` says whether it had served a request
    /// before. Only a retry changes the phase: the caller finishes the request its own way.
    public mutating func failed(_ error: any Error, reused: Bool) -> Failure {
        switch phase {
        case .connecting, .done:
            return .ignored
        case .sent:
            guard !retried, method == .GET, error is UpstreamConnection.Closed || reused else { return .beforeAnswer }
            retried = true
            phase = .connecting
            return .retry
        case .streaming:
            return .midAnswer
        }
    }
}
