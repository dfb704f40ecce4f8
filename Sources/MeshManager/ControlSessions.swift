import GRPCCore
import KubeClient
import KubeModel
import MeshCore
import MeshControl
import Synchronization

/// Serves proxy sessions on the gRPC stream for whichever coordinator currently leads. A
/// manager that does not lead answers `unavailable`, and the proxy tries the next address.
/// A session first proves which pod it speaks for: its bearer token is reviewed by the API
/// server (`TokenReview`) and must be bound to that pod; unless sessions are trusted (local
/// runs) a session without a token is refused. The coordinator (shard specs) and the policy
/// book (fault and breaker policies) both send on a session; their messages are merged onto
/// the one stream.
final class ControlSessions: Sendable {
    struct Leader: Sendable {
        let coordinator: Coordinator
        let policies: PolicyBook
        /// Whether this replica still leads at this instant.
        let leads: @Sendable () -> Bool
    }

    let client: RESTClient
    let leader = Mutex<Leader?>(nil)

    init(client: RESTClient) {
        self.client = client
    }

    func handle(_ metadata: Metadata, _ incoming: RPCAsyncSequence<ProxyMessage, any Error>, _ outgoing: RPCWriter<ManagerMessage>) async throws {
        guard let leader = leader.withLock({ $0 }), leader.leads() else {
            throw RPCError(code: .unavailable, message: "this mesh manager is not the leader")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (inbox, inboxWriter) = AsyncThrowingStream<ProxyMessage, any Error>.makeStream()
            group.addTask {
                do {
                    for try await message in incoming { inboxWriter.yield(message) }
                    inboxWriter.finish()
                } catch {
                    inboxWriter.finish(throwing: error)
                }
            }
            var messages = inbox.makeAsyncIterator()
            guard case .register(let pod, let namespace, let applied)? = try await messages.next() else {
                throw RPCError(code: .invalidArgument, message: "a session starts with register")
            }
            let (proof, bound) = try await prove(metadata)
            let labels = try await podLabels(namespace: namespace, name: pod)
            let coordinator = leader.coordinator
            let session: Int
            let outbound: AsyncStream<ManagerMessage>
            switch await coordinator.open(pod: pod, namespace: namespace, proof: proof, labels: labels, applied: applied) {
            case .opened(let id, let messages): (session, outbound) = (id, messages)
            case .unavailable(let reason): throw RPCError(code: .unavailable, message: reason)
            case .refused(let reason): throw RPCError(code: .permissionDenied, message: reason)
            }
            let member = CoordinatorStateMachine.memberID(namespace: namespace, pod: pod)
            let (merged, mergedWriter) = AsyncStream<ManagerMessage>.makeStream()
            group.addTask {
                for await message in outbound { mergedWriter.yield(message) }
                // The coordinator closed the session (superseded, re-planned, or no longer leading).
                mergedWriter.finish()
            }
            group.addTask {
                for await message in merged { try await outgoing.write(message) }
                inboxWriter.finish()
            }
            if let bound {
                group.addTask {
                    // A failed check ends the session: the message loop below ends with it.
                    do {
                        while true {
                            try await Task.sleep(for: ControlSessions.recheckInterval)
                            try await self.recheck(bound)
                        }
                    } catch {
                        inboxWriter.finish(throwing: error)
                    }
                }
            }
            if let labels {
                await leader.policies.joined(session: session, pod: pod, namespace: namespace, labels: labels, send: mergedWriter)
            }
            func close() async {
                await coordinator.closed(member: member, session: session)
                await leader.policies.left(session: session)
                mergedWriter.finish()
                group.cancelAll()
            }
            do {
                while let message = try await messages.next() {
                    switch message {
                    case .ack(let epoch): await coordinator.acknowledged(member: member, session: session, epoch: epoch)
                    case .fenced: await coordinator.fenced(member: member, session: session)
                    case .heartbeat: await coordinator.heartbeat(member: member, session: session)
                    case .acquire(let id, let policy, let rule):
                        mergedWriter.yield(.grant(id: id, retryAfter: await leader.policies.acquire(policy: policy, rule: rule)))
                    case .report(let reports): await leader.policies.reported(session: session, reports: reports)
                    case .traffic(let requests, let errors):
                        await coordinator.traffic(member: member, session: session, requests: requests, errors: errors)
                    case .register: throw RPCError(code: .invalidArgument, message: "register is sent once per session")
                    }
                }
            } catch {
                await close()
                throw error
            }
            await close()
        }
    }

    /// The pod the session's bearer token proves (`.none` without a token: the coordinator
    /// accepts that only when it trusts sessions).
    func prove(_ metadata: Metadata) async throws -> (SessionProof, TokenReviewProof.BoundPod?) {
        guard let header = metadata[stringValues: MeshControl.authorization].first(where: { _ in true }) else { return (.none, nil) }
        guard header.hasPrefix("Bearer "), case let token = String(header.dropFirst("Bearer ".count)), !token.isEmpty else {
            throw RPCError(code: .unauthenticated, message: "the authorization metadata is not a bearer token")
        }
        let reviewed: JSON
        do {
            reviewed = try await client.create(ControlSessions.tokenReviews, TokenReviewProof.review(token: token))
        } catch {
            throw RPCError(code: .unavailable, message: "cannot review the session's token: \(error)")
        }
        let bound: TokenReviewProof.BoundPod
        switch TokenReviewProof.boundPod(reviewed: reviewed) {
        case .success(let pod): bound = pod
        case .failure(let error): throw RPCError(code: .unauthenticated, message: error.description)
        }
        try await recheck(bound)
        return (.pod(namespace: bound.namespace, name: bound.name), bound)
    }

    /// Throws unless the pod a session proved is still the pod its token was bound to: a
    /// deleted pod's proxy (or one whose name a new pod took) loses its session.
    func recheck(_ bound: TokenReviewProof.BoundPod) async throws {
        let pod: JSON?
        do {
            pod = try await client.get(.pods, namespace: bound.namespace, name: bound.name)
        } catch let error as StatusError where error.reason == .notFound {
            pod = nil
        } catch {
            throw RPCError(code: .unavailable, message: "cannot read pod \(bound.namespace)/\(bound.name): \(error)")
        }
        if case .failure(let error) = TokenReviewProof.proof(bound, current: pod) {
            throw RPCError(code: .unauthenticated, message: error.description)
        }
    }

    /// How often a session's pod is read again.
    static let recheckInterval = Duration.seconds(5)

    static let tokenReviews = GroupVersionResource(group: "authentication.k8s.io", version: "v1", resource: "tokenreviews")

    /// The pod's labels; nil when it does not exist.
    func podLabels(namespace: String, name: String) async throws -> [String: String]? {
        do {
            return try await client.get(.pods, namespace: namespace, name: name).labels
        } catch let error as StatusError where error.reason == .notFound {
            return nil
        } catch {
            throw RPCError(code: .unavailable, message: "cannot read pod \(namespace)/\(name): \(error)")
        }
    }
}
