import Foundation
import KubeClient
import KubeModel
import Logging
import MeshCore
import Synchronization

/// The proxy's liveness lease: a Lease per operator pod, renewed against the API server. The
/// manager takes a member for dead only once the lease has gone unrenewed for its duration
/// plus a clock-skew margin; the proxy fences itself earlier, when no renewal has succeeded
/// within the renew deadline counted from the start of the last successful attempt. So by the
/// time the manager hands the member's keys to another shard, this proxy has stopped writing.
public final class MemberLease: Sendable {
    public struct Timings: Sendable, Equatable {
        public var duration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        public init(duration: Duration = .seconds(10), renewDeadline: Duration = .seconds(7), retryPeriod: Duration = .seconds(1)) {
            self.duration = duration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }


    let client: RESTClient
    public let namespace: String
    public let pod: String
    public let timings: Timings
    let logger: Logger
    /// Until when the last successful renewal keeps this proxy entitled to its spec.
    let validUntil = Mutex<ContinuousClock.Instant?>(nil)
    /// Set when the proxy left the mesh for good: the lease is never renewed again.
    let retired = Mutex(false)

    public init(client: RESTClient, namespace: String, pod: String, timings: Timings = Timings(), logger: Logger) {
        self.client = client
        self.namespace = namespace
        self.pod = pod
        self.timings = timings
        self.logger = logger
    }

    public var name: String { MemberLeaseNames.leaseName(ofPod: pod) }

    public var isValid: Bool {
        validUntil.withLock { until in until.map { ContinuousClock.now < $0 } ?? false }
    }

    /// Waits until the lease is valid (or the task is cancelled).
    public func waitUntilValid() async {
        while !isValid, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
    }

    /// Renews until cancelled. `lapsed` runs each time the lease stops being valid, at the
    /// renew deadline, even while a renewal hangs.
    public func run(lapsed: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.renewLoop(lapsed: lapsed) }
            group.addTask {
                var wasValid = false
                while !Task.isCancelled {
                    let valid = self.isValid
                    if wasValid, !valid {
                        self.logger.warning("member lease \(self.namespace)/\(self.name) not renewed within \(self.timings.renewDeadline): fencing")
                        await lapsed()
                    }
                    wasValid = valid
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            await group.waitForAll()
        }
    }

    func renewLoop(lapsed: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled, !retired.withLock({ $0 }) {
            let start = ContinuousClock.now
            do {
                try await renew()
                if retired.withLock({ $0 }) { return }
                // A renewal that ends a lapse (the process was paused, or renewals failed past the
                // deadline) fences first, before the lease counts as valid again: the watchdog may
                // not have seen the lapse yet, and the spec held before it must not come back.
                if validUntil.withLock({ until in until.map { ContinuousClock.now >= $0 } ?? false }) { await lapsed() }
                validUntil.withLock { $0 = start + timings.renewDeadline }
            } catch where !Task.isCancelled {
                logger.warning("member lease \(namespace)/\(name): renewal failed: \(error)")
            } catch {}
            try? await Task.sleep(until: start + timings.retryPeriod, clock: .continuous)
        }
    }

    func renew() async throws {
        let renewTime = Timestamp.microTime(Date())
        let seconds = Int(timings.duration.components.seconds)
        do {
            var lease = try await client.get(.leases, namespace: namespace, name: name)
            lease.setValue(.string(pod), at: ["spec", "holderIdentity"])
            lease.setValue(.int(seconds), at: ["spec", "leaseDurationSeconds"])
            lease.setValue(.string(renewTime), at: ["spec", "renewTime"])
            _ = try await client.update(.leases, lease)
        } catch let error as StatusError where error.reason == .notFound {
            let lease: JSON = [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": .string(name), "namespace": .string(namespace),
                             "labels": [MemberLeaseNames.memberLabel: "true"],
                             "annotations": [MemberLeaseNames.podAnnotation: .string(pod)]],
                "spec": ["holderIdentity": .string(pod), "leaseDurationSeconds": .int(seconds),
                         "acquireTime": .string(renewTime), "renewTime": .string(renewTime)],
            ]
            _ = try await client.create(.leases, namespace: namespace, lease)
        }
    }

    /// Stops renewing for good and releases the lease (the proxy has fenced and left the mesh).
    public func retire() async {
        retired.withLock { $0 = true }
        await release()
    }

    /// Releases the lease after the proxy has fenced: the holder is cleared (which the manager
    /// reads as "gone, fenced", and hands the member's keys over at once instead of waiting for
    /// expiry), then the lease is deleted. A lease deleted by anyone else means nothing.
    public func release() async {
        validUntil.withLock { $0 = nil }
        do {
            var lease = try await client.get(.leases, namespace: namespace, name: name)
            lease.setValue(.string(""), at: ["spec", "holderIdentity"])
            _ = try await client.update(.leases, lease)
            _ = try await client.delete(.leases, namespace: namespace, name: name)
        } catch {
            logger.warning("member lease \(namespace)/\(name): release failed: \(error); the manager waits for expiry")
        }
    }
}
