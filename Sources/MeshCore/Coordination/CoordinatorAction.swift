/// What the coordinator's state machine asks its shell to do after an event. The shell
/// performs the actions in order and decides nothing.
public enum CoordinatorAction: Sendable, Equatable {
    /// Send a spec on a session.
    case sendSpec(session: Int, ShardSpec)
    /// Tell a session's proxy it belongs to no shard (it fences and answers `fenced`).
    case sendUnassigned(session: Int, reason: String)
    /// End a session (superseded, re-planned, its member dead, or leadership over).
    case close(session: Int)
    /// Write a config's grant record to the API server, then report `grantsRecorded`: sends
    /// that grant units wait for it.
    case recordGrants(key: String, ShardGrants)
    case log(LogLevel, String)

    public enum LogLevel: Sendable, Equatable {
        case info, warning, error
    }
}

/// Who a session proved to be before it registered.
public enum SessionProof: Sendable, Equatable {
    /// The session proved it speaks for this pod (a service-account token bound to the pod,
    /// checked with a TokenReview).
    case pod(namespace: String, name: String)
    /// Nothing was proved: accepted only where the coordinator was told to trust sessions
    /// (local runs).
    case none
}
