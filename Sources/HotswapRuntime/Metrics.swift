import CoreMetrics
import Prometheus
import Synchronization

/// Where a process's metrics go: swift-metrics' API in front, a Prometheus registry behind it.
///
/// Each gateway or sidecar owns one (tests run several in one process, and each must count only its own); the
/// series are made through its `factory`, which is swift-prometheus' `PrometheusMetricsFactory`, or
/// swift-metrics' `TestMetrics` in tests.
public struct MetricsSink: Sendable {
    public let factory: any MetricsFactory
    private let registry: PrometheusCollectorRegistry?

    /// A sink over a factory that renders nothing itself (`TestMetrics`).
    public init(factory: any MetricsFactory) {
        self.factory = factory
        self.registry = nil
    }

    /// A fresh Prometheus registry, with the histogram buckets of every hotswap series.
    public static func prometheus() -> MetricsSink {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = histogramBuckets
        return MetricsSink(factory: factory, registry: registry)
    }

    private init(factory: any MetricsFactory, registry: PrometheusCollectorRegistry) {
        self.factory = factory
        self.registry = registry
    }

    /// The text exposition format (version 0.0.4), for `GET /metrics`.
    public func render() -> String {
        guard let registry else { return "" }
        var out: [UInt8] = []
        registry.emit(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Buckets per histogram, in seconds: each chosen around what the series measures.
    static let histogramBuckets: [String: [Double]] = [
        "hotswap_gateway_reload_duration_seconds": [
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
        ],
        "hotswap_gateway_drain_duration_seconds": [0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
        "hotswap_sidecar_detect_to_apply_seconds": [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30],
        "hotswap_watch_detect_to_apply_seconds": [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30],
    ]
}

/// The handles of one series, by label set: each made once and kept (a tool call must not register one).
private final class Handles<Handle: Sendable>: Sendable {
    private let handles = Mutex<[[String]: Handle]>([:])

    static func key(_ labels: [String: String]) -> (key: [String], dimensions: [(String, String)]) {
        let dimensions = labels.sorted { $0.key < $1.key }
        return (dimensions.flatMap { [$0.key, $0.value] }, dimensions)
    }

    func handle(_ labels: [String: String], make: ([(String, String)]) -> Handle) -> Handle {
        let (key, dimensions) = Self.key(labels)
        return handles.withLock { h in
            if let existing = h[key] { return existing }
            let made = make(dimensions)
            h[key] = made
            return made
        }
    }

    /// Removes the label sets not in `keep`, and returns their handles.
    func removeAll(except keep: [[String: String]]) -> [Handle] {
        let kept = Set(keep.map { Self.key($0).key })
        return handles.withLock { h in
            let stale = h.filter { !kept.contains($0.key) }
            for key in stale.keys { h[key] = nil }
            return Array(stale.values)
        }
    }
}

/// A counter with labels.
public final class CounterSeries: Sendable {
    private let name: String
    private let sink: MetricsSink
    private let handles = Handles<CoreMetrics.Counter>()

    public init(_ name: String, in sink: MetricsSink) {
        self.name = name
        self.sink = sink
    }

    /// An unlabeled counter shows as 0 from the start; labeled ones appear with their first increment.
    public convenience init(unlabeled name: String, in sink: MetricsSink) {
        self.init(name, in: sink)
        _ = handle([:])
    }

    public func increment(labels: [String: String] = [:]) {
        handle(labels).increment()
    }

    private func handle(_ labels: [String: String]) -> CoreMetrics.Counter {
        handles.handle(labels) { CoreMetrics.Counter(label: name, dimensions: $0, factory: sink.factory) }
    }
}

/// A gauge with labels; `replaceAll` removes the label sets it does not name (an info metric's old hash, a server
/// that left the catalog).
public final class GaugeSeries: Sendable {
    private let name: String
    private let sink: MetricsSink
    private let handles = Handles<CoreMetrics.Gauge>()

    public init(_ name: String, in sink: MetricsSink) {
        self.name = name
        self.sink = sink
    }

    public func set(_ value: Double, labels: [String: String] = [:]) {
        handles.handle(labels) { CoreMetrics.Gauge(label: name, dimensions: $0, factory: sink.factory) }.record(value)
    }

    public func replaceAll(_ series: [([String: String], Double)]) {
        for gone in handles.removeAll(except: series.map(\.0)) { gone.destroy() }
        for (labels, value) in series { set(value, labels: labels) }
    }
}

/// A histogram (swift-metrics' aggregating recorder) of values in seconds.
public final class HistogramSeries: Sendable {
    private let recorder: Recorder

    public init(_ name: String, in sink: MetricsSink) {
        recorder = Recorder(label: name, dimensions: [], aggregate: true, factory: sink.factory)
    }

    public func observe(_ value: Double) { recorder.record(value) }
}
