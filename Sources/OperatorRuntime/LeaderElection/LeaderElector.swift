import Foundation
import KubeClient
import KubeModel
import Logging
import Synchronization

/// Leader election over a Lease, interoperable with client-go's and the Python client's
/// electors holding the same Lease: acquire, renew every `retryPeriod`, give up leadership
/// when no renewal succeeded within `renewDeadline`, and release the Lease on shutdown.
public final class LeaderElector: Sendable {
    public struct Configuration: Sendable {
        public var namespace: String
        public var name: String
        public var identity: String
        public var leaseDuration: Duration = .seconds(15)
        public var renewDeadline: Duration = .seconds(10)
        public var retryPeriod: Duration = .seconds(2)
        public var releaseOnCancel = true

        public init(namespace: String, name: String, identity: String) {
            self.namespace = namespace
            self.name = name
            self.identity = identity
        }
    }

    /// Leadership was lost while leading: the work it guarded has been stopped.
    public struct LeadershipLost: Error, CustomStringConvertible {
        public let description: String
    }


    public let configuration: Configuration
    let client: RESTClient
    let logger: Logger
    private let election: Mutex<LeaseElection>
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private let onChange: (@Sendable (Bool) -> Void)?

    /// `onChange` is told when this candidate starts (true) and stops (false) leading.
    public init(client: RESTClient, configuration: Configuration, logger: Logger = Logger(label: "ctrlmesh.leader-election"),
                onChange: (@Sendable (Bool) -> Void)? = nil) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.onChange = onChange
        origin = clock.now
        election = Mutex(LeaseElection(identity: configuration.identity,
                                       leaseDurationSeconds: Int(configuration.leaseDuration.components.seconds)))
    }

    public var isLeader: Bool { election.withLock { $0.isLeader } }

    /// Until when the last renewal keeps this candidate leading (its start plus the renew
    /// deadline, by the monotonic clock); nil while not leading.
    private let leadingUntil = Mutex<ContinuousClock.Instant?>(nil)

    /// Whether this candidate leads at this instant. After a pause longer than the renew
    /// deadline it does not, even before its renew loop has noticed: work guarded by the
    /// election checks this before each write it makes.
    public var leadsNow: Bool { leadingUntil.withLock { $0.map { clock.now < $0 } ?? false } }

    /// The leadership term: the Lease's `leaseTransitions` as this candidate last read or wrote
    /// it. Each change of holder raises it, so a later leader's term is higher.
    public var term: Int { election.withLock { $0.observedRecord?.leaseTransitions ?? 0 } }

    /// Waits to lead, then runs `work` while leading. Returns when `work` returns or the task
    /// is cancelled (releasing the Lease); throws `LeadershipLost` if renewal failed first.
    public func run(_ work: @escaping @Sendable () async throws -> Void) async throws {
        guard let acquiredAt = try await acquire() else { return }
        logger.info("became leader", metadata: ["lease": "\(configuration.namespace)/\(configuration.name)", "identity": "\(configuration.identity)"])
        leadingUntil.withLock { $0 = acquiredAt + configuration.renewDeadline }
        onChange?(true)
        defer {
            leadingUntil.withLock { $0 = nil }
            onChange?(false)
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await work() }
                group.addTask { try await self.renewLoop(acquiredAt: acquiredAt) }
                // Whichever ends first ends the other: work finishing, or renewal failing.
                _ = try await group.next()
                group.cancelAll()
            }
        } catch let lost as LeadershipLost {
            logger.error("leadership lost", metadata: ["reason": "\(lost.description)"])
            throw lost
        } catch {
            await releaseIfConfigured()
            throw error
        }
        await releaseIfConfigured()
    }

    /// Releases outside this task, which may be cancelled (shutdown) and would cancel the
    /// release's requests with it.
    private func releaseIfConfigured() async {
        guard configuration.releaseOnCancel else { return }
        await Task { await self.release() }.value
    }

    /// Tries every `retryPeriod` (with jitter) until this candidate leads; returns when the
    /// winning attempt started, or nil if cancelled.
    private func acquire() async throws -> ContinuousClock.Instant? {
        var lastHolder = ""
        while !Task.isCancelled {
            let started = clock.now
            do {
                switch try await tryAcquireOrRenew() {
                case .leading where started.duration(to: clock.now) < configuration.renewDeadline:
                    return started
                case .following(let holder) where holder != lastHolder:
                    lastHolder = holder
                    logger.info("waiting for leadership", metadata: ["holder": "\(holder)"])
                default:
                    break
                }
            } catch {
                logger.info("leader election attempt failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.retryPeriod * Double.random(in: 1.0...1.2))
        }
        return nil
    }

    /// Renews every `retryPeriod`. A renewal counts from the moment its attempt started, not
    /// from its answer: the write it made took effect no earlier than that, so another
    /// candidate, which waits a full lease duration from when it saw the write, cannot take
    /// over before this one has stopped (`renewDeadline` < `leaseDuration`), however slow
    /// the answer was.
    private func renewLoop(acquiredAt: ContinuousClock.Instant) async throws {
        var lastRenewal = acquiredAt
        while true {
            // Never sleep past the deadline: leadership ends at lastRenewal + renewDeadline.
            let remaining = configuration.renewDeadline - lastRenewal.duration(to: clock.now)
            try await Task.sleep(for: min(configuration.retryPeriod, max(remaining, .zero)))
            let started = clock.now
            let attempt = try? await withDeadline(configuration.renewDeadline - lastRenewal.duration(to: started)) {
                try await self.tryAcquireOrRenew()
            }
            if attempt == .leading {
                lastRenewal = started
                leadingUntil.withLock { $0 = started + configuration.renewDeadline }
            } else if attempt.isFollowing || lastRenewal.duration(to: clock.now) >= configuration.renewDeadline {
                throw LeadershipLost(description: attempt.isFollowing ? "another candidate holds the lease"
                                     : "failed to renew the lease within \(configuration.renewDeadline)")
            }
        }
    }

    enum Attempt: Equatable {
        case leading
        case following(String)
        case conflict
    }

    /// One read of the Lease and, when this candidate may hold it, one write.
    private func tryAcquireOrRenew() async throws -> Attempt {
        let now = origin.duration(to: clock.now).seconds
        let wallTime = Timestamp.microTime(Date())
        var lease: JSON?
        do {
            lease = try await client.get(GroupVersionResource.leases, namespace: configuration.namespace, name: configuration.name)
        } catch let error as StatusError where error.reason == .notFound {
            lease = nil
        }
        let decision = election.withLock { $0.decide(current: lease.map(LeaderElectionRecord.init(lease:)), now: now, wallTime: wallTime) }
        do {
            switch decision {
            case .followerOf(let holder):
                return .following(holder)
            case .create(let record):
                var object: JSON = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                    "metadata": ["name": .string(configuration.name), "namespace": .string(configuration.namespace)]]
                record.apply(to: &object)
                _ = try await client.create(GroupVersionResource.leases, namespace: configuration.namespace, object)
                election.withLock { $0.wrote(record, now: now) }
            case .update(let record):
                guard var object = lease else { return .conflict }
                record.apply(to: &object)
                _ = try await client.update(GroupVersionResource.leases, object)
                election.withLock { $0.wrote(record, now: now) }
            }
        } catch let error as StatusError where error.reason == .conflict || error.reason == .alreadyExists {
            return .conflict
        }
        return .leading
    }

    /// Gives the Lease up so a waiting candidate takes over without waiting for expiry.
    private func release() async {
        guard let record = election.withLock({ $0.releaseRecord(wallTime: Timestamp.microTime(Date())) }) else { return }
        do {
            var lease = try await client.get(GroupVersionResource.leases, namespace: configuration.namespace, name: configuration.name)
            guard LeaderElectionRecord(lease: lease).holderIdentity == configuration.identity else { return }
            record.apply(to: &lease)
            _ = try await client.update(GroupVersionResource.leases, lease)
            election.withLock { $0.wrote(record, now: origin.duration(to: clock.now).seconds) }
            logger.info("released the lease", metadata: ["lease": "\(configuration.namespace)/\(configuration.name)"])
        } catch {
            logger.warning("could not release the lease", metadata: ["error": "\(error)"])
        }
    }
}

extension Optional where Wrapped == LeaderElector.Attempt {
    var isFollowing: Bool {
        if case .following = self { return true }
        return false
    }
}

struct DeadlineExceeded: Error {}

/// Runs `operation`, cancelling it after `timeout`.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    guard timeout > .zero else { throw DeadlineExceeded() }
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw DeadlineExceeded() }
        return result
    }
}
