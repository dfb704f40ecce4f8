/// The breaker states a proxy's rule went through between two of its reports. A proxy reports
/// each breaker's state and how many times it has changed; a breaker that closed and opened
/// again between two reports shows the same state twice, and only the count tells that it
/// changed twice. Each change is one entry, in order, so each becomes one Event.
public enum BreakerTransitions {
    /// The most transitions listed for one report; past it the earliest are left out (a rule
    /// flapping faster than reports arrive would flood the Events otherwise).
    public static let limit = 20

    /// The states entered since the previous report (`previous` nil: the first report, from a
    /// breaker that starts closed). A count that went down is a restarted proxy: its changes
    /// since the restart count. A reported state the count does not explain (a forced trigger)
    /// is entered last.
    public static func entered(previous: (state: String, count: Int)?, state: String, count: Int) -> [String] {
        let before = previous?.state ?? BreakerState.State.closed.rawValue
        var changes = count - (previous?.count ?? 0)
        if changes < 0 { changes = count }
        var current = changes > 0 && count == changes && previous.map({ $0.count > count }) == true
            ? BreakerState.State.closed.rawValue : before
        var entered: [String] = []
        for _ in 0..<min(changes, 2 * limit) {
            current = current == BreakerState.State.opened.rawValue ? BreakerState.State.closed.rawValue : BreakerState.State.opened.rawValue
            entered.append(current)
        }
        if current != state { entered.append(state) }
        return Array(entered.suffix(limit))
    }
}
