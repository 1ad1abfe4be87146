import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapRuntime
import Logging
import Synchronization

/// Everything the sidecar is told on its command line.
public struct SidecarConfiguration: Sendable {
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
    /// How long to wait for `/stats` to show a signalled hash.
    public var confirmTimeout: Duration = .seconds(10)
    /// 30 s: a gateway that restarted with stale content converges within this long, without an edit.
    public var reconcileInterval: Duration = .seconds(30)
    /// First retry after a transport error; doubles to `maxBackoff`.
    public var minBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(30)
    /// Look at once when inotify reports a change in the watched directory (polling still finds everything).
    public var inotifyHint = true

    public init(poller: CatalogPoller.Settings, signaler: any Signaler) {
        self.poller = poller
        self.signaler = signaler
    }
}

/// The sidecar's Prometheus series (DESIGN, "Metrics").
public final class SidecarMetrics: Sendable {
    public let registry = MetricsRegistry()
    let polls: Counter
    let changes: Counter
    let validations: Counter
    let validationFailures: Counter
    let reloads: Counter
    let lastSuccess: Gauge
    let detectToApply: Histogram
    let lastPoll: Gauge
    let appliedInfo: Gauge

    public init() {
        polls = registry.counter("hotswap_sidecar_polls_total", help: "Polls of the watched catalog.")
        changes = registry.counter(
            "hotswap_sidecar_changes_detected_total", help: "New content seen (before settling).")
        validations = registry.counter("hotswap_sidecar_validations_total", help: "Settled contents validated.")
        validationFailures = registry.counter(
            "hotswap_sidecar_validation_failures_total",
            help: "Settled contents that failed validation (never signalled).")
        reloads = registry.counter(
            "hotswap_sidecar_reloads_total",
            help:
                "Signals by result: applied (confirmed), rejected, unconfirmed (sent, not seen live), error (transport)."
        )
        lastSuccess = registry.gauge(
            "hotswap_sidecar_last_reload_success_timestamp_seconds", help: "When a change was last confirmed live.")
        detectToApply = registry.histogram(
            "hotswap_sidecar_detect_to_apply_seconds",
            help: "From first seeing new content to the gateway confirming it.",
            buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30])
        lastPoll = registry.gauge(
            "hotswap_sidecar_last_poll_timestamp_seconds", help: "When the catalog was last polled.")
        appliedInfo = registry.gauge(
            "hotswap_sidecar_applied_config_info", help: "1 for the sha256 last confirmed live.")
    }
}

/// Poll, settle, validate, sign, signal, confirm; retry what failed in transit, never what was refused.
public final class ReloadController: Sendable {
    public let configuration: SidecarConfiguration
    public let metrics = SidecarMetrics()
    private let logger: Logger
    private let fileSystem: any WatchFileSystem
    /// Polls run on a thread of their own: a hung mount blocks that thread, not the loop or shutdown.
    private let lane = BlockingLane(label: "watch")
    private let state = Mutex(State())

    private struct State {
        var lastPoll: ContinuousClock.Instant?
        var valid: (bytes: [UInt8], hash: String)?
        var applied: String?
        var rejected: Set<String> = []
        var pushPending = false
        /// The loop asked the worker to compare the gateway's live hash with the file's.
        var reconcileWanted = false
        var retryAt: ContinuousClock.Instant?
        var backoff: Duration = .zero
        var detectedAt: [String: ContinuousClock.Instant] = [:]
        var lastLog: [String: String] = [:]
        var started = ContinuousClock.now
    }

    /// How the last attempt ended, for `--once`.
    public enum Result: Sendable, Equatable {
        case applied, invalid, rejected, unreachable, unconfirmed, unreadable
    }

    public init(
        configuration: SidecarConfiguration, logger: Logger, fileSystem: any WatchFileSystem = LocalFileSystem()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.fileSystem = fileSystem
    }

    // MARK: Health

    /// False when polling has not completed for three intervals: the loop is stuck (a hung mount, say).
    public func isHealthy(now: ContinuousClock.Instant = .now) -> Bool {
        let limit = max(configuration.interval * 3, .seconds(1)) + configuration.poller.settle
        return state.withLock { s in
            guard let last = s.lastPoll else { return now - s.started < limit + .seconds(5) }
            return now - last <= limit
        }
    }

    public var appliedHash: String? { state.withLock { $0.applied } }
    public var validHash: String? { state.withLock { $0.valid?.hash } }

    // MARK: The loop

    /// Runs until cancelled. Polling and the gateway side run side by side: a push (with its confirmation) or
    /// a reconcile can take as long as the gateway's warm start, and the poll loop, and with it `/healthz`,
    /// must stay live meanwhile (a liveness probe would otherwise restart a healthy sidecar during a slow
    /// reload). The worker takes one job at a time; requests made while it is busy fold into its next round.
    public func run() async {
        var poller = CatalogPoller(settings: configuration.poller, fileSystem: fileSystem)
        MountCheck.warnIfSingleFileMount(configuration.poller.watch, logger: logger)
        logger.info(
            "watching",
            metadata: ["watch.path": "\(poller.resolvedPath())", "signal": "\(configuration.signaler.name)"])
        var nextReconcile = ContinuousClock.now + configuration.reconcileInterval
        let hint =
            configuration.inotifyHint ? ChangeHint(directory: Self.hintDirectory(configuration.poller.watch)) : nil
        let (jobs, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in jobs {
                    if self.state.withLock({ s in
                        defer { s.reconcileWanted = false }
                        return s.reconcileWanted
                    }) {
                        await self.reconcile()
                    }
                    let due = self.state.withLock { s -> Bool in
                        guard s.pushPending else { return false }
                        return s.retryAt.map { $0 <= .now } ?? true
                    }
                    if due { _ = await self.push() }
                }
            }
            while !Task.isCancelled {
                var wait = configuration.interval
                if let after = await step(&poller, push: { wake.yield() }) { wait = after }
                if ContinuousClock.now >= nextReconcile {
                    state.withLock { $0.reconcileWanted = true }
                    wake.yield()
                    nextReconcile = ContinuousClock.now + configuration.reconcileInterval
                }
                let retry = state.withLock { s -> Bool in
                    guard s.pushPending, let at = s.retryAt, at <= .now else { return false }
                    return true
                }
                if retry { wake.yield() }
                if let hint {
                    await hint.wait(upTo: wait)
                } else {
                    try? await Task.sleep(for: wait)
                }
            }
            wake.finish()
        }
    }

    /// The directory whose events hint at a change: the watched directory, or the watched file's parent.
    static func hintDirectory(_ watch: String) -> String {
        if FileIO.isDirectory(watch) { return watch }
        let parent = URL(fileURLWithPath: watch).deletingLastPathComponent().path
        return parent.isEmpty ? "." : parent
    }

    /// `--once`: read, settle, validate, push, confirm; retries transport errors until `deadline`.
    public func runOnce(deadline: Duration) async -> Result {
        var poller = CatalogPoller(settings: configuration.poller, fileSystem: fileSystem)
        MountCheck.warnIfSingleFileMount(configuration.poller.watch, logger: logger)
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            switch await poller.poll(on: lane, within: min(fileReadDeadline, end - ContinuousClock.now)) {
            case .settling(_, let after):
                try? await Task.sleep(for: after)
            case .settled(let bytes, let hash):
                guard await validate(bytes, hash: hash, path: poller.resolvedPath()) else { return .invalid }
                while true {
                    let result = await push()
                    if result != .unreachable || ContinuousClock.now >= end { return result }
                    let wait = state.withLock { $0.backoff }
                    try? await Task.sleep(for: wait)
                }
            case .unreadable(let path, let reason):
                logger.error("cannot read the catalog", metadata: ["path": "\(path)", "error": "\(reason)"])
                return .unreadable
            case .unchanged:
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return .unreachable
    }

    /// One poll; returns how long to wait before the next when it should be sooner than the interval. Valid new
    /// content is handed to `push` (by default pushed here and now).
    func step(_ poller: inout CatalogPoller, push requestPush: (@Sendable () -> Void)? = nil) async -> Duration? {
        let outcome = await poller.poll(on: lane)
        // A poll still stuck on its thread did not complete: health goes on aging until it does.
        if !lane.isBusy {
            metrics.polls.increment()
            metrics.lastPoll.set(Date().timeIntervalSince1970)
            state.withLock { $0.lastPoll = .now }
        }
        switch outcome {
        case .unchanged:
            return nil
        case .settling(let hash, let after):
            let first = state.withLock { s -> Bool in
                guard s.detectedAt[hash] == nil else { return false }
                s.detectedAt[hash] = .now
                return true
            }
            if first { metrics.changes.increment() }
            return after
        case .settled(let bytes, let hash):
            // Intermediate hashes of a slow write never settled: forget them, keep only this one's start.
            state.withLock { s in s.detectedAt = s.detectedAt.filter { $0.key == hash } }
            logOnce("file", .info, "content settled", ["reload.sha256": "\(hash)"])
            if await validate(bytes, hash: hash, path: poller.resolvedPath()) {
                if let requestPush { requestPush() } else { _ = await push() }
            }
            return nil
        case .unreadable(let path, let reason):
            logOnce(
                "file", .warning, "cannot read the catalog; the last good content stays applied",
                ["path": "\(path)", "error": "\(reason)"])
            return nil
        }
    }

    private func validate(_ bytes: [UInt8], hash: String, path: String) async -> Bool {
        metrics.validations.increment()
        let verdict = await Validator(mode: configuration.validation, fileName: path).validate(bytes)
        switch verdict {
        case .valid:
            state.withLock { s in
                s.valid = (bytes, hash)
                s.pushPending = true
                s.retryAt = nil
                s.backoff = .zero
            }
            return true
        case .invalid(let lines):
            metrics.validationFailures.increment()
            state.withLock { $0.detectedAt[hash] = nil }
            logger.warning(
                "invalid catalog: not signalled; the last good content stays applied\n\(lines.joined(separator: "\n"))",
                metadata: ["reload.sha256": "\(hash)", "errors": "\(lines.count)"])
            return false
        }
    }

    /// Signals the last valid content unless the gateway already refused it; confirms; schedules retries.
    func push() async -> Result {
        guard let (bytes, hash) = state.withLock({ s -> ([UInt8], String)? in s.valid.map { ($0.bytes, $0.hash) } })
        else {
            return .unreadable
        }
        if state.withLock({ $0.rejected.contains(hash) }) {
            state.withLock { $0.pushPending = false }
            return .rejected
        }
        var token: String?
        if let key = configuration.signingKey {
            do {
                token = try ReloadTokenSigner(key: key).mint(
                    op: "reload", sha256: hash, audience: configuration.audience, issuer: configuration.issuer,
                    ttlSeconds: configuration.tokenTTL)
            } catch {
                logger.error("cannot sign a token", metadata: ["error": "\(error)"])
            }
        }
        var outcome = await configuration.signaler.signal(bytes: bytes, sha256: hash, token: token)
        if outcome == .sent {
            outcome = await confirm(hash)
        }
        switch outcome {
        case .confirmed(let generation):
            let detected = state.withLock { s -> ContinuousClock.Instant? in
                s.applied = hash
                s.pushPending = false
                s.retryAt = nil
                s.backoff = .zero
                return s.detectedAt.removeValue(forKey: hash)
            }
            metrics.reloads.increment(labels: ["result": "applied"])
            metrics.lastSuccess.set(Date().timeIntervalSince1970)
            metrics.appliedInfo.replaceAll([(["sha256": hash], 1)])
            if let detected { metrics.detectToApply.observe((ContinuousClock.now - detected).inSeconds) }
            logOnce(
                "push", .info, "applied: the gateway confirmed the content live",
                ["reload.sha256": "\(hash)", "reload.generation": "\(generation)"], key: hash)
            return .applied
        case .rejected(let reason):
            state.withLock { s in
                s.rejected.insert(hash)
                s.pushPending = false
                s.detectedAt[hash] = nil
            }
            metrics.reloads.increment(labels: ["result": "rejected"])
            logger.warning(
                "the gateway refused this content; not sent again until the file changes",
                metadata: ["reload.sha256": "\(hash)", "reason": "\(reason)"])
            return .rejected
        case .sent:
            state.withLock { $0.pushPending = false }
            metrics.reloads.increment(labels: ["result": "unconfirmed"])
            logOnce(
                "push", .warning, "signalled but unconfirmed: no way to read the gateway's live hash (set --stats-url)",
                ["reload.sha256": "\(hash)"], key: "unconfirmed-\(hash)")
            return .unconfirmed
        case .transportError(let message):
            let delay = state.withLock { s -> Duration in
                s.backoff = s.backoff == .zero ? configuration.minBackoff : min(s.backoff * 2, configuration.maxBackoff)
                let jittered = s.backoff + s.backoff * Double.random(in: 0..<0.2)
                s.retryAt = .now + jittered
                s.pushPending = true
                return jittered
            }
            metrics.reloads.increment(labels: ["result": "error"])
            logOnce(
                "push", .warning, "cannot reach the gateway; retrying with backoff",
                ["reload.sha256": "\(hash)", "error": "\(message)", "retry_in": "\(delay)"], key: "error-\(hash)")
            return .unreachable
        }
    }

    /// Polls the gateway's `/stats` until it shows `hash` live, or the confirm timeout passes.
    private func confirm(_ hash: String) async -> SignalOutcome {
        guard let stats = configuration.stats else { return .sent }
        let deadline = ContinuousClock.now + configuration.confirmTimeout
        while ContinuousClock.now < deadline {
            if let live = await liveHash(stats), live.hash == hash { return .confirmed(generation: live.generation) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return .sent
    }

    private func liveHash(_ endpoint: ControlEndpoint) async -> (hash: String, generation: Int)? {
        guard let stats = try? await ControlAPIClient(endpoint: endpoint, timeoutSeconds: 5).stats(),
            let hash = stats.configSha256
        else { return nil }
        return (hash, stats.generation)
    }

    /// Compares the gateway's live hash with the file's valid hash and pushes when they differ: a gateway that
    /// restarted with stale content converges without an edit.
    func reconcile() async {
        guard let stats = configuration.stats, let valid = state.withLock({ $0.valid?.hash }) else { return }
        guard let live = await liveHash(stats) else { return }
        guard live.hash != valid, !state.withLock({ $0.rejected.contains(valid) }) else { return }
        logger.info(
            "reconcile: the gateway serves other content; pushing the file's",
            metadata: ["live.sha256": "\(live.hash)", "reload.sha256": "\(valid)"])
        state.withLock { $0.applied = nil }
        _ = await push()
    }

    // MARK: Logging

    /// Logs a state change once: the same key in the same category is not repeated every poll.
    private func logOnce(
        _ category: String, _ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata, key: String? = nil
    ) {
        let k = key ?? message + metadata.description
        let fresh = state.withLock { s -> Bool in
            guard s.lastLog[category] != k else { return false }
            s.lastLog[category] = k
            return true
        }
        if fresh { logger.log(level: level, "\(message)", metadata: metadata) }
    }
}

/// Single-file bind mounts: editors that save by rename, and Kubernetes `subPath`, never reach into them.
enum MountCheck {
    /// Mount points from /proc/self/mountinfo (field 5, with octal escapes decoded).
    static func mountPoints() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var points = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            points.insert(decode(String(fields[4])))
        }
        return points
    }

    static func decode(_ s: String) -> String {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\\", let end = s.index(i, offsetBy: 4, limitedBy: s.endIndex),
                let code = UInt8(s[s.index(after: i)..<end], radix: 8)
            {
                out.append(Character(Unicode.Scalar(code)))
                i = end
            } else {
                out.append(s[i])
                i = s.index(after: i)
            }
        }
        return out
    }

    static func warnIfSingleFileMount(_ watch: String, logger: Logger) {
        guard !FileIO.isDirectory(watch) else { return }
        let path = URL(fileURLWithPath: watch).standardizedFileURL.path
        guard mountPoints().contains(path) else { return }
        logger.warning(
            "the watched file is itself a mount point (a single-file bind mount or a Kubernetes subPath): editors that save by rename, and ConfigMap updates, never reach it. Mount the directory instead and watch it with --watch DIR --file NAME",
            metadata: ["watch.path": "\(path)"])
    }
}
