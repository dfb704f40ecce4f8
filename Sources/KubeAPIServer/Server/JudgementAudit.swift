import KubeModel
import Synchronization

/// Compares, for each request a mesh proxy stamped with its `Judgement`, the proxy's
/// classification with this server's own routing of the request it received (enabled by
/// `--check-judgements`; a verification aid for tests and audits). Served at
/// `/debug/ctrlmesh/judgements`: counts, and the most recent disagreements.
public final class JudgementAudit: Sendable {
    struct State {
        var agreed = 0
        var disagreements: [JSON] = []
        var disagreed = 0
    }

    static let kept = 200
    let state = Mutex(State())

    /// Records one stamped request: `routed` is nil when this server found nothing to serve.
    func check(stamp: String, routed: Judgement?, method: String, target: String) {
        let judged = Judgement(text: stamp)
        state.withLock { s in
            if let judged, judged == routed {
                s.agreed += 1
                return
            }
            s.disagreed += 1
            if s.disagreements.count >= JudgementAudit.kept { s.disagreements.removeFirst() }
            s.disagreements.append(["method": .string(method), "target": .string(target), "judged": .string(stamp),
                                    "routed": routed.map { .string($0.text) } ?? .null])
        }
    }

    public var counts: (agreed: Int, disagreed: Int) { state.withLock { ($0.agreed, $0.disagreed) } }

    public func json() -> JSON {
        state.withLock { s in
            ["agreed": .int(s.agreed), "disagreed": .int(s.disagreed), "disagreements": .array(s.disagreements)]
        }
    }
}
