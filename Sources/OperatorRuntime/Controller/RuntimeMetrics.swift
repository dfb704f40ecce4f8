import Prometheus

/// The runtime's Prometheus metrics, named as controller-runtime names them so existing
/// dashboards read them: work-queue depth and adds, reconcile counts, errors and latency,
/// leader status, and cached objects per informer.
public final class RuntimeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    func queueDepth(_ controller: String) -> Gauge {
        registry.makeGauge(descriptor: .init(metricName: "workqueue", unitName: "depth", helpText: "Current depth of the work queue."),
                           labels: [("name", controller)])
    }

    func queueAdds(_ controller: String) -> Counter {
        registry.makeCounter(descriptor: .init(metricName: "workqueue_adds", unitName: "total", helpText: "Keys added to the work queue."),
                             labels: [("name", controller)])
    }

    func queueRetries(_ controller: String) -> Counter {
        registry.makeCounter(descriptor: .init(metricName: "workqueue_retries", unitName: "total",
                                               helpText: "Keys re-added after a failed reconcile."),
                             labels: [("name", controller)])
    }

    func reconciles(_ controller: String, result: String) -> Counter {
        registry.makeCounter(descriptor: .init(namespace: "controller_runtime", metricName: "reconcile", unitName: "total",
                                               helpText: "Reconciles by result."),
                             labels: [("controller", controller), ("result", result)])
    }

    func reconcileErrors(_ controller: String) -> Counter {
        registry.makeCounter(descriptor: .init(namespace: "controller_runtime", metricName: "reconcile_errors", unitName: "total",
                                               helpText: "Reconciles that returned an error."),
                             labels: [("controller", controller)])
    }

    func reconcileTime(_ controller: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: .init(namespace: "controller_runtime", metricName: "reconcile_time", unitName: "seconds",
                              helpText: "Time per reconcile."),
            labels: [("controller", controller)],
            buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
    }

    func leaderStatus(_ lease: String) -> Gauge {
        registry.makeGauge(descriptor: .init(metricName: "leader_election_master", unitName: "status",
                                             helpText: "1 while this process leads the lease."),
                           labels: [("name", lease)])
    }

    func cachedObjects(_ resource: String) -> Gauge {
        registry.makeGauge(descriptor: .init(namespace: "ctrlmesh", metricName: "informer_cached", unitName: "objects",
                                             helpText: "Objects in the informer's cache."),
                           labels: [("resource", resource)])
    }

    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
