import NIOCore

/// What one listener grants its clients, so a slow or idle client is dropped and never the
/// server: how many connections may be open at once, and how long a client may take at each
/// step of a request.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections open at once; one more is closed as soon as it is accepted.
    public var maxConnections: Int
    /// From the first byte of a request (or the connection, for its first request) to the end
    /// of its head: a client that sends its headers slowly ("slowloris") is dropped.
    public var headerTimeout: TimeAmount
    /// From a request's head to the end of its body.
    public var bodyTimeout: TimeAmount
    /// A connection with no request in flight is closed after this long.
    public var idleTimeout: TimeAmount
    /// A response write the client does not take within this long closes the connection.
    public var writeTimeout: TimeAmount

    public init(maxConnections: Int = 4096, headerTimeout: TimeAmount = .seconds(10), bodyTimeout: TimeAmount = .seconds(60),
                idleTimeout: TimeAmount = .seconds(120), writeTimeout: TimeAmount = .seconds(60)) {
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
    }
}

/// When a connection must next show progress, as a state machine over what happens on it (no
/// I/O: `ConnectionGuard` arms the timer it returns and closes the connection when it fires).
///
/// - A new connection must complete a request head within `headerTimeout`.
/// - While requests are in flight the connection has no deadline of its own (each request has
///   its body timeout, and a watch may stream for as long as it likes).
/// - Between requests it may idle for `idleTimeout`; once an HTTP/1.1 client starts sending
///   the next request, the head must complete within `headerTimeout`. (HTTP/2 streams time
///   their own heads: its connection-level frames, such as PING, do not start a request.)
struct ConnectionTimeouts {
    enum Deadline: Equatable {
        case none
        case after(TimeAmount)
    }

    let limits: ConnectionLimits
    var inFlight = 0
    var servedOne = false
    /// Bytes of an HTTP/1.1 request head are arriving.
    var headStarted = false
    var http2 = false

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// The deadline from accepting the connection.
    mutating func accepted() -> Deadline { .after(limits.headerTimeout) }

    mutating func bytesArrived() -> Deadline? {
        guard !http2, inFlight == 0, servedOne, !headStarted else { return nil }
        headStarted = true
        return .after(limits.headerTimeout)
    }

    mutating func requestStarted() -> Deadline {
        inFlight += 1
        headStarted = false
        return .none
    }

    mutating func requestFinished() -> Deadline? {
        inFlight = max(inFlight - 1, 0)
        servedOne = true
        return inFlight == 0 ? .after(limits.idleTimeout) : nil
    }
}
