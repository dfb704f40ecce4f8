import KubeModel
import Logging
import MeshControl
import MeshCore

/// The leading manager's coordinator: a thin actor around `CoordinatorStateMachine`. It feeds
/// each event in with the time, and performs the actions that come out: messages on the
/// session streams, closed sessions, grant records handed to the grant writer, log lines.
actor Coordinator {
    var machine: CoordinatorStateMachine
    /// Each open session's outgoing stream, by session id.
    var outgoing: [Int: AsyncStream<ManagerMessage>.Continuation] = [:]
    /// Grant records to write, in order; the writer reports back with `grantsRecorded`.
    nonisolated let grantWrites: AsyncStream<(key: String, grants: ShardGrants)>
    let grantWriter: AsyncStream<(key: String, grants: ShardGrants)>.Continuation
    let logger: Logger

    init(logger: Logger, skew: Duration = .seconds(2), defaultLeaseDuration: Duration = .seconds(120), trustsSessions: Bool = false,
         term: UInt64 = 0) {
        self.logger = logger
        self.machine = CoordinatorStateMachine(skew: skew, defaultLeaseDuration: defaultLeaseDuration, trustsSessions: trustsSessions,
                                               term: term)
        (grantWrites, grantWriter) = AsyncStream.makeStream()
    }

    func perform(_ actions: [CoordinatorAction]) {
        for action in actions {
            switch action {
            case .sendSpec(let session, let spec): outgoing[session]?.yield(.spec(spec))
            case .sendUnassigned(let session, let reason): outgoing[session]?.yield(.unassigned(reason: reason))
            case .close(let session): outgoing.removeValue(forKey: session)?.finish()
            case .recordGrants(let key, let grants): grantWriter.yield((key, grants))
            case .log(.info, let message): logger.info("\(message)")
            case .log(.warning, let message): logger.warning("\(message)")
            case .log(.error, let message): logger.error("\(message)")
            }
        }
    }

    // MARK: Events

    func configUpserted(key: String, object: JSON) {
        perform(machine.configUpserted(key: key, object: object, now: .now))
    }

    func configDeleted(key: String) {
        perform(machine.configDeleted(key: key))
    }

    func leaseObserved(namespace: String, pod: String, holder: String, renewTime: String?, duration: Duration) {
        perform(machine.leaseObserved(namespace: namespace, pod: pod, holder: holder, renewTime: renewTime, duration: duration, now: .now))
    }

    func tick() {
        perform(machine.tick(now: .now))
    }

    func lockChanged(namespace: String, name: String) {
        machine.lockChanged(namespace: namespace, name: name)
    }

    enum Opening {
        case opened(session: Int, messages: AsyncStream<ManagerMessage>)
        case unavailable(String)
        case refused(String)
    }

    /// A proxy registered: the session's id and the stream of messages for it.
    func open(pod: String, namespace: String, proof: SessionProof, labels: [String: String]?, applied: ShardSpec?) -> Opening {
        let (opening, actions) = machine.open(pod: pod, namespace: namespace, proof: proof, labels: labels, applied: applied, now: .now)
        switch opening {
        case .opened(let session):
            // The stream exists before the actions run: the first spec is among them.
            let (stream, continuation) = AsyncStream<ManagerMessage>.makeStream()
            outgoing[session] = continuation
            perform(actions)
            return .opened(session: session, messages: stream)
        case .unavailable(let reason):
            return .unavailable(reason)
        case .refused(let reason):
            logger.warning("refused a session for pod \(namespace)/\(pod): \(reason)")
            return .refused(reason)
        }
    }

    func fenced(member: String, session: Int) {
        perform(machine.fenced(member: member, session: session, now: .now))
    }

    func acknowledged(member: String, session: Int, epoch: UInt64) {
        perform(machine.acknowledged(member: member, session: session, epoch: epoch, now: .now))
    }

    func heartbeat(member: String, session: Int) {
        machine.heartbeat(member: member, session: session, now: .now)
    }

    func traffic(member: String, session: Int, requests: Int, errors: Int) {
        machine.traffic(member: member, session: session, requests: requests, errors: errors, now: .now)
    }

    func closed(member: String, session: Int) {
        outgoing.removeValue(forKey: session)?.finish()
        perform(machine.closed(member: member, session: session))
    }

    func grantsRecorded(key: String, _ grants: ShardGrants?) {
        perform(machine.grantsRecorded(key: key, grants))
    }

    func startAccepting() {
        machine.startAccepting()
    }

    func shutdown() {
        perform(machine.shutdown())
        for continuation in outgoing.values { continuation.finish() }
        outgoing = [:]
        grantWriter.finish()
    }

    // MARK: Reading

    /// Takes the configs whose status should be written, with what to write.
    func takeDirty() -> [(key: String, snapshot: MeshSnapshot?, invalid: String?)] {
        machine.takeDirty().map { key in (key, machine.meshes[key].map { MeshSnapshot(mesh: $0) }, machine.invalid[key]) }
    }

    /// The grants the fence judges by, as this leader knows them (at least as new as recorded).
    func recordedGrants(key: String) -> (MeshConfig, ShardGrants)? {
        machine.meshes[key].map { ($0.config, $0.recorded) }
    }
}
