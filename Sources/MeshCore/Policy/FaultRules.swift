import KubeModel

/// One rule of a FaultInjection: which requests, when, and what goes wrong with them. A rule
/// may delay and abort the same request (the delay comes first, as in Envoy), and fault a
/// watch stream it lets through.
public struct FaultRule: Sendable, Equatable {
    public var name: String
    public var match: RequestMatch
    public var window: TimeWindow?
    public var delay: DelayFault?
    public var abort: AbortFault?
    public var watch: WatchFault?

    public init(name: String, match: RequestMatch, window: TimeWindow? = nil, delay: DelayFault? = nil, abort: AbortFault? = nil,
                watch: WatchFault? = nil) {
        self.name = name
        self.match = match
        self.window = window
        self.delay = delay
        self.abort = abort
        self.watch = watch
    }
}

/// Hold the request for a fixed time, or a uniformly drawn time in `min...max`.
public struct DelayFault: Sendable, Equatable {
    public var min: Duration
    public var max: Duration
    public var percent: Double

    public init(min: Duration, max: Duration? = nil, percent: Double) {
        self.min = min
        self.max = max ?? min
        self.percent = percent
    }
}

/// Answer in the API server's place with an error `Status`.
public struct AbortFault: Sendable, Equatable {
    public var status: StatusError
    public var percent: Double

    public init(status: StatusError, percent: Double) {
        self.status = status
        self.percent = percent
    }

    /// The Status the API server itself would send with this code: the reason client
    /// libraries key on (`IsConflict`, `IsTooManyRequests`, `IsTimeout`, …) and, for 429,
    /// a retry hint.
    public static func status(code: Int, message: String, retryAfterSeconds: Int?) -> StatusError {
        let reason: StatusError.Reason = switch code {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 405: .methodNotAllowed
        case 409: .conflict
        case 410: .expired
        case 413: .requestEntityTooLarge
        case 415: .unsupportedMediaType
        case 422: .invalid
        case 429: .tooManyRequests
        case 503: .serviceUnavailable
        case 504: .timeout
        default: .internalError
        }
        var status = StatusError(code: code, reason: reason, message: message)
        status.retryAfterSeconds = retryAfterSeconds ?? (code == 429 ? 1 : nil)
        return status
    }
}

/// Failures a watch stream can suffer, as informers must survive them: the stream closes
/// after some events or some time, each event is held back, or the stream ends with a
/// `410 Expired` ERROR event that forces a relist.
public struct WatchFault: Sendable, Equatable {
    public var closeAfterEvents: Int?
    public var closeAfter: Duration?
    public var eventDelay: Duration?
    /// End with a 410 Expired ERROR event rather than a clean close.
    public var expire: Bool
    public var percent: Double

    public init(closeAfterEvents: Int? = nil, closeAfter: Duration? = nil, eventDelay: Duration? = nil, expire: Bool = false,
                percent: Double) {
        self.closeAfterEvents = closeAfterEvents
        self.closeAfter = closeAfter
        self.eventDelay = eventDelay
        self.expire = expire
        self.percent = percent
    }
}
