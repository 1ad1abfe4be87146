import HotswapCore

/// The gateway's Prometheus series (DESIGN, "Metrics").
public final class GatewayMetrics: Sendable {
    public let registry = MetricsRegistry()
    public let generation: Gauge
    public let configInfo: Gauge
    public let reloads: Counter
    public let reloadsCoalesced: Counter
    public let reloadDuration: Histogram
    public let backends: Gauge
    public let inflight: Gauge
    public let requests: Counter
    public let drainDuration: Histogram

    public init() {
        generation = registry.gauge("hotswap_gateway_generation", help: "Number of the live catalog generation.")
        configInfo = registry.gauge(
            "hotswap_gateway_config_info", help: "1 for the sha256 of the live catalog; shows a fleet's convergence.")
        reloads = registry.counter(
            "hotswap_gateway_reloads_total",
            help: "Reloads by result (applied, unchanged, rejected, rolled_back, refused) and source.")
        reloadsCoalesced = registry.counter(
            "hotswap_gateway_reloads_coalesced_total", help: "Reload requests folded into a follow-up of newer content."
        )
        reloadDuration = registry.histogram(
            "hotswap_gateway_reload_duration_seconds", help: "Time from a reload request to its answer.",
            buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        backends = registry.gauge("hotswap_gateway_backends", help: "Backends of the live generation by state.")
        inflight = registry.gauge("hotswap_gateway_inflight_requests", help: "Calls in flight per server.")
        requests = registry.counter(
            "hotswap_gateway_requests_total",
            help: "Tool calls by server and outcome (ok, error, timeout, unavailable).")
        drainDuration = registry.histogram(
            "hotswap_gateway_drain_duration_seconds", help: "Time a removed or replaced server took to drain and stop.",
            buckets: [0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120])
    }

    func setLive(generation number: Int, sha256: String) {
        generation.set(Double(number))
        configInfo.replaceAll([(["sha256": sha256], 1)])
    }
}
