import GRPCCore
import KubeClient
import KubeModel
import MeshControl
import Synchronization

/// Serves proxy sessions on the gRPC stream for whichever coordinator currently leads. A
/// manager that does not lead answers `unavailable`, and the proxy tries the next address.
final class ControlSessions: Sendable {
    let client: RESTClient
    let coordinator = Mutex<Coordinator?>(nil)

    init(client: RESTClient) {
        self.client = client
    }

    func handle(_ incoming: RPCAsyncSequence<ProxyMessage, any Error>, _ outgoing: RPCWriter<ManagerMessage>) async throws {
        guard let coordinator = coordinator.withLock({ $0 }) else {
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
            let labels = try await podLabels(namespace: namespace, name: pod)
            guard let (session, outbound) = await coordinator.open(pod: pod, namespace: namespace, labels: labels, applied: applied) else {
                throw RPCError(code: .unavailable, message: "this mesh manager is starting or stopping")
            }
            let member = Coordinator.memberID(namespace: namespace, pod: pod)
            group.addTask {
                for await message in outbound { try await outgoing.write(message) }
                // The coordinator closed the session (superseded, re-planned, or no longer leading).
                inboxWriter.finish()
            }
            do {
                while let message = try await messages.next() {
                    switch message {
                    case .ack(let epoch): await coordinator.acknowledged(member: member, session: session, epoch: epoch)
                    case .fenced: await coordinator.fenced(member: member, session: session)
                    case .heartbeat: await coordinator.heartbeat(member: member, session: session)
                    case .register: throw RPCError(code: .invalidArgument, message: "register is sent once per session")
                    }
                }
            } catch {
                await coordinator.closed(member: member, session: session)
                group.cancelAll()
                throw error
            }
            await coordinator.closed(member: member, session: session)
            group.cancelAll()
        }
    }

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
