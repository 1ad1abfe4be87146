import HotswapAPI
import HotswapCore
import HotswapRuntime

/// Everything a reload controller is told: by the sidecar's command line, or by the gateway's `--watch`.
public struct WatchConfiguration: Sendable {
    public var poller: CatalogPoller.Settings
    /// 500 ms: a change shows within a second, at a cost of one stat(2) per tick.
    public var interval: Duration = .milliseconds(500)
    public var validation: ValidationMode = .catalog(.auto)
    public var signaler: any Signaler
    public var signingKey: TokenKey?
    public var audience = "hotswap-gateway"
    public var issuer = "hotswap-sidecar"
    public var tokenTTL: Int64 = 60
    /// Where to read the gateway's live hash (`GET /stats`): the socket in socket mode, or `--stats-url`.
    public var stats: ControlEndpoint?
    /// For a gateway that is not hotswap (no `/stats` with its live hash): how a signal is confirmed.
    public var peerConfirmation: PeerConfirmation?
    /// How long to wait for `/stats` (or the peer confirmation) to show a signalled hash.
    public var confirmTimeout: Duration = .seconds(10)
    /// 30 s: a gateway that restarted with stale content converges within this long, without an edit.
    public var reconcileInterval: Duration = .seconds(30)
    /// First retry after a transport error; doubles to `maxBackoff`.
    public var minBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(30)
    /// Look at once when inotify reports a change in the watched directory (polling still finds everything).
    public var inotifyHint = true
    /// The metric names' prefix: `hotswap_sidecar` in the sidecar, `hotswap_watch` in the gateway's own watcher.
    public var metricsPrefix = "hotswap_sidecar"
    /// Content already live when the controller starts (the gateway's startup catalog): not pushed again.
    public var initialHash: String?

    public init(poller: CatalogPoller.Settings, signaler: any Signaler) {
        self.poller = poller
        self.signaler = signaler
    }
}

/// How a signal that says nothing of its result (SIGHUP, a plain POST) is confirmed when the gateway is not hotswap.
public enum PeerConfirmation: Sendable {
    /// `GET` this URL just before signalling, then until it answers 2xx with a different body (a server list,
    /// a config version): the gateway has loaded something new.
    case answerChanges(endpoint: ControlEndpoint, path: String)
    /// Run this check (`{}` is a private copy of the signalled content) until it exits 0.
    case command(CheckCommand)

    /// What the logs say confirmed a change.
    public var name: String {
        switch self {
        case .answerChanges(let endpoint, let path): "a new answer from GET \(endpoint)\(path)"
        case .command(let check): "\(check.argv.joined(separator: " ")) exiting 0"
        }
    }
}

/// The reload controller's Prometheus series (DESIGN, "Metrics").
public final class WatchMetrics: Sendable {
    public let sink: MetricsSink
    let polls: CounterSeries
    let changes: CounterSeries
    let validations: CounterSeries
    let validationFailures: CounterSeries
    let reloads: CounterSeries
    let lastSuccess: GaugeSeries
    let detectToApply: HistogramSeries
    let lastPoll: GaugeSeries
    let appliedInfo: GaugeSeries

    public init(prefix: String, sink: MetricsSink) {
        self.sink = sink
        polls = CounterSeries(unlabeled: "\(prefix)_polls_total", in: sink)
        changes = CounterSeries(unlabeled: "\(prefix)_changes_detected_total", in: sink)
        validations = CounterSeries(unlabeled: "\(prefix)_validations_total", in: sink)
        validationFailures = CounterSeries(unlabeled: "\(prefix)_validation_failures_total", in: sink)
        // By result: applied (confirmed), rejected, unconfirmed (sent, not seen live), error (transport).
        reloads = CounterSeries("\(prefix)_reloads_total", in: sink)
        lastSuccess = GaugeSeries("\(prefix)_last_reload_success_timestamp_seconds", in: sink)
        detectToApply = HistogramSeries("\(prefix)_detect_to_apply_seconds", in: sink)
        lastPoll = GaugeSeries("\(prefix)_last_poll_timestamp_seconds", in: sink)
        appliedInfo = GaugeSeries("\(prefix)_applied_config_info", in: sink)
    }
}
