import HotswapAPI
import HotswapRuntime

/// The gateway's Prometheus series (DESIGN, "Metrics"), through swift-metrics.
public final class GatewayMetrics: Sendable {
    public let sink: MetricsSink
    /// Number of the live catalog generation.
    public let generation: GaugeSeries
    /// 1 for the sha256 of the live catalog; shows a fleet's convergence.
    public let configInfo: GaugeSeries
    /// Reloads by result (applied, unchanged, rejected, rolled_back, refused) and source.
    public let reloads: CounterSeries
    /// Reload requests folded into a follow-up of newer content.
    public let reloadsCoalesced: CounterSeries
    /// Time from a reload request to its answer.
    public let reloadDuration: HistogramSeries
    /// Backends of the live generation by state.
    public let backends: GaugeSeries
    /// Calls in flight per server.
    public let inflight: GaugeSeries
    /// Tool calls by server and outcome (ok, error, timeout, unavailable).
    public let requests: CounterSeries
    /// Time a removed or replaced server took to drain and stop.
    public let drainDuration: HistogramSeries

    public init(sink: MetricsSink = .prometheus()) {
        self.sink = sink
        generation = GaugeSeries("hotswap_gateway_generation", in: sink)
        configInfo = GaugeSeries("hotswap_gateway_config_info", in: sink)
        reloads = CounterSeries("hotswap_gateway_reloads_total", in: sink)
        reloadsCoalesced = CounterSeries(unlabeled: "hotswap_gateway_reloads_coalesced_total", in: sink)
        reloadDuration = HistogramSeries("hotswap_gateway_reload_duration_seconds", in: sink)
        backends = GaugeSeries("hotswap_gateway_backends", in: sink)
        inflight = GaugeSeries("hotswap_gateway_inflight_requests", in: sink)
        requests = CounterSeries("hotswap_gateway_requests_total", in: sink)
        drainDuration = HistogramSeries("hotswap_gateway_drain_duration_seconds", in: sink)
        generation.set(0)
    }

    func setLive(generation number: Int, sha256: String) {
        generation.set(Double(number))
        configInfo.replaceAll([(["sha256": sha256], 1)])
    }
}
