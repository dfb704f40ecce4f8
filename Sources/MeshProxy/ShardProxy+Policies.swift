import KubeHTTP
import KubeModel
import MeshCore
import MeshHTTP

/// The fault and breaker step of the request path, after shard fencing: one admission per
/// request from the policy engine, performed here — answer with the Status it names, hold
/// the request for a delay or a token, ask the manager for operator-wide tokens.
extension ShardProxy {
    /// Passes a request through the policies. Returns the admission to go on with (its
    /// in-flight slots are held until `policies.finish`), or nil after answering the client.
    func passPolicies(_ request: ServerRequest, facts: RequestFacts, writer: ResponseWriter) async -> PolicyEngine.Admission? {
        let started = ContinuousClock.now
        while true {
            let admission = policies.admit(facts)
            var verdict = admission.verdict
            if verdict == .proceed {
                do {
                    for handle in admission.shared {
                        if let wait = try await policies.acquireShared(handle) {
                            verdict = policies.sharedOverLimit(handle, retryAfter: wait) ?? .proceed
                            if verdict != .proceed { break }
                        }
                    }
                } catch is CancellationError {
                    policies.finish(admission)
                    return nil
                } catch {
                    policies.finish(admission)
                    var status = StatusError(code: 429, reason: .tooManyRequests,
                                             message: "an operator-wide limit applies to this request and the mesh manager that keeps it cannot be reached")
                    status.retryAfterSeconds = 1
                    await writer.respond(status)
                    return nil
                }
            }
            switch verdict {
            case .proceed:
                if let delay = admission.delay { try? await Task.sleep(for: delay) }
                return admission
            case .refuse(let status):
                // A fault may delay and then abort, as Envoy's does.
                if let delay = admission.delay { try? await Task.sleep(for: delay) }
                await writer.respond(status)
                return nil
            case .overLimit(let handle, let retryAfter, let mode):
                policies.finish(admission)
                if case .wait(let maxWait, let maxQueued) = mode, ContinuousClock.now - started + .seconds(retryAfter) <= maxWait,
                   policies.enqueue(handle, bound: maxQueued) {
                    try? await Task.sleep(for: .seconds(retryAfter))
                    policies.dequeue(handle)
                    if Task.isCancelled { return nil }
                    continue
                }
                await writer.respond(policies.overLimitStatus(handle, retryAfter: retryAfter))
                return nil
            }
        }
    }

    /// What the rules see of the request. The body is read only when some rule matches on
    /// names or labels, and only for verbs whose body is the object.
    func policyFacts(_ request: ServerRequest, info: RequestInfo?, body: DecodedBody) -> RequestFacts {
        var facts = RequestFacts(method: request.method.rawValue, path: String(request.path), upstream: upstream.config.server, info: info)
        if let info, info.verb == .create || info.verb == .update, request.body.readableBytes > 0, policies.readsBody,
           let identity = body.identity {
            if info.verb == .create, facts.name == nil, !identity.name.isEmpty { facts.name = identity.name }
            facts.labels = identity.labels
        }
        return facts
    }

}
