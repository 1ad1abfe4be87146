import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapRuntime
import Logging
import Synchronization

/// The clock a controller reads: the system's, or a test's that moves only when told.
public struct WatchClock: Sendable {
    public let now: @Sendable () -> ContinuousClock.Instant

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant) { self.now = now }

    public static let system = WatchClock { .now }
}

/// Poll, settle, validate, sign, signal, confirm; retry what failed in transit, never what was refused.
///
/// Driven by ticks (`run(ticks:)`): production ticks come from a timer and inotify hints, tests yield their own.
/// The file system and the clock are injected too, so a test drives it tick by tick with no sleeps. Pushes run
/// off the poll path: a push (with its confirmation) can take as long as the gateway's warm start, and the
/// poll loop, and with it `/healthz`, stays live meanwhile.
public final class ReloadController: Sendable {
    public let configuration: WatchConfiguration
    public let metrics: WatchMetrics
    let logger: Logger
    let fileSystem: any WatchFileSystem
    let clock: WatchClock
    /// Polls run on a thread of their own: a hung mount blocks that thread, not the loop or shutdown.
    let lane = BlockingLane(label: "watch")
    let state: Mutex<State>
    let poller: Mutex<CatalogPoller>

    struct State {
        var policy: PushPolicy
        var lastPoll: ContinuousClock.Instant?
        var validBytes: [UInt8]?
        var detectedAt: [String: ContinuousClock.Instant] = [:]
        var lastLog: [String: String] = [:]
        var started: ContinuousClock.Instant
        var nextReconcile: ContinuousClock.Instant
        /// How soon the next tick should come when sooner than the interval (content settling, a retry due).
        var wantTickAfter: Duration?
        /// The poll loop asked the worker to compare the gateway's live hash with the file's.
        var reconcileWanted = false
    }

    /// How the last attempt ended, for `--once`.
    public enum Result: Sendable, Equatable {
        case applied, invalid, rejected, unreachable, unconfirmed, unreadable
    }

    public init(
        configuration: WatchConfiguration, logger: Logger, fileSystem: any WatchFileSystem = LocalFileSystem(),
        clock: WatchClock = .system, metrics: MetricsSink = .prometheus()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.fileSystem = fileSystem
        self.clock = clock
        self.metrics = WatchMetrics(prefix: configuration.metricsPrefix, sink: metrics)
        let policy = PushPolicy(
            minBackoff: configuration.minBackoff, maxBackoff: configuration.maxBackoff, live: configuration.initialHash)
        var poller = CatalogPoller(settings: configuration.poller, fileSystem: fileSystem)
        if let initial = configuration.initialHash { poller.markSettled(hash: initial) }
        let now = clock.now()
        self.poller = Mutex(poller)
        self.state = Mutex(
            State(policy: policy, started: now, nextReconcile: now + configuration.reconcileInterval))
    }

    // MARK: Health

    /// False when polling has not completed for three intervals: the loop is stuck (a hung mount, say).
    public func isHealthy() -> Bool {
        let now = clock.now()
        let limit = max(configuration.interval * 3, .seconds(1)) + configuration.poller.settle
        return state.withLock { s in
            guard let last = s.lastPoll else { return now - s.started < limit + .seconds(5) }
            return now - last <= limit
        }
    }

    public var appliedHash: String? { state.withLock { $0.policy.applied } }
    public var validHash: String? { state.withLock { $0.policy.valid } }
    public var policy: PushPolicy { state.withLock { $0.policy } }

    // MARK: The loop

    /// Runs until cancelled, ticking every `interval` (sooner while content settles or a retry is due, and at
    /// once on an inotify hint).
    public func run() async {
        MountCheck.warnIfSingleFileMount(configuration.poller.watch, logger: logger)
        logger.info(
            "watching",
            metadata: [
                "watch.path": "\(poller.withLock { $0.resolvedPath() })", "signal": "\(configuration.signaler.name)",
            ])
        let hint =
            configuration.inotifyHint
            ? ChangeHint(
                directory: Self.hintDirectory(configuration.poller.watch),
                finished: Self.hintNames(configuration.poller)) : nil
        await run(ticks: Ticks(controller: self, hint: hint))
    }

    /// Ticks for `run()`: the first at once, then each one `interval` (or the sooner time the last poll asked
    /// for: a settle's confirming read, a retry) after the previous tick's poll has finished, or at once on an
    /// inotify hint. Timed from the end of the poll, so a settle asked for by that poll is kept to its length.
    struct Ticks: AsyncSequence, Sendable {
        let controller: ReloadController
        let hint: ChangeHint?

        func makeAsyncIterator() -> Iterator { Iterator(controller: controller, hint: hint) }

        struct Iterator: AsyncIteratorProtocol {
            let controller: ReloadController
            let hint: ChangeHint?
            var first = true

            mutating func next() async -> Void? {
                if first {
                    first = false
                    return ()
                }
                let interval = controller.configuration.interval
                let wait = controller.state.withLock { s in
                    defer { s.wantTickAfter = nil }
                    return Swift.min(s.wantTickAfter ?? interval, interval)
                }
                if let hint {
                    await hint.wait(upTo: wait)
                    if hint.takeWriterDone() { controller.poller.withLock { $0.writerFinished() } }
                } else {
                    try? await Task.sleep(for: wait)
                }
                return Task.isCancelled ? nil : ()
            }
        }
    }

    /// Runs one poll per element of `ticks` until they end or the task is cancelled. Pushes, confirmations and
    /// reconciles run on a worker beside the poll loop, one at a time.
    public func run<Ticks: AsyncSequence & Sendable>(ticks: Ticks) async where Ticks.Element == Void {
        let (jobs, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in jobs { await self.work() }
            }
            do {
                for try await _ in ticks {
                    if Task.isCancelled { break }
                    if await tick() { wake.yield() }
                }
            } catch {
                logger.debug("ticks ended", metadata: ["error": "\(error)"])
            }
            wake.finish()
        }
    }

    /// One poll, and what it leads to. True when the worker has something to do (a push, a retry, a reconcile).
    @discardableResult
    public func tick() async -> Bool {
        let validated = await poll()
        let now = clock.now()
        let reconcileEvery = configuration.stats == nil ? nil : configuration.reconcileInterval
        let (retryDue, reconcileDue) = state.withLock { s -> (Bool, Bool) in
            let retryDue = s.policy.event(.tick, now: now) != .none
            if let at = s.policy.retryAt, at > now { s.wantTickAfter = min(s.wantTickAfter ?? at - now, at - now) }
            guard let reconcileEvery, now >= s.nextReconcile else { return (retryDue, false) }
            s.nextReconcile = now + reconcileEvery
            s.reconcileWanted = true
            return (retryDue, true)
        }
        return validated || retryDue || reconcileDue
    }

    /// The worker's round: a reconcile when one was asked for, then the push that is due, if any.
    public func work() async {
        let reconcileWanted = state.withLock { s in
            defer { s.reconcileWanted = false }
            return s.reconcileWanted
        }
        if reconcileWanted { await reconcile() }
        _ = await pushIfDue()
    }

    /// The directory whose events hint at a change: the watched directory, or the watched file's parent.
    static func hintDirectory(_ watch: String) -> String {
        if FileIO.isDirectory(watch) { return watch }
        let parent = URL(fileURLWithPath: watch).deletingLastPathComponent().path
        return parent.isEmpty ? "." : parent
    }

    /// The names whose close-after-write or move into place says the writer is done: the catalog's name, and a
    /// ConfigMap's `..data` (whether the directory is watched or the file in it, a link into `..data`).
    static func hintNames(_ settings: CatalogPoller.Settings) -> Set<String> {
        if FileIO.isDirectory(settings.watch) { return [settings.file, "..data"] }
        return [URL(fileURLWithPath: settings.watch).lastPathComponent, "..data"]
    }

    /// One poll of the file. True when valid new content is waiting to be pushed.
    func poll() async -> Bool {
        var poller = self.poller.withLock { $0 }
        let outcome = await poller.poll(on: lane, now: clock.now())
        self.poller.withLock { $0 = poller }
        // A poll still stuck on its thread did not complete: health goes on aging until it does.
        if !lane.isBusy {
            metrics.polls.increment()
            metrics.lastPoll.set(Date().timeIntervalSince1970)
            let now = clock.now()
            state.withLock { $0.lastPoll = now }
        }
        switch outcome {
        case .unchanged:
            return false
        case .settling(let hash, let after):
            let now = clock.now()
            let first = state.withLock { s -> Bool in
                s.wantTickAfter = min(s.wantTickAfter ?? after, after)
                guard s.detectedAt[hash] == nil else { return false }
                s.detectedAt[hash] = now
                return true
            }
            if first { metrics.changes.increment() }
            return false
        case .settled(let bytes, let hash):
            // Intermediate hashes of a slow write never settled: forget them, keep only this one's start.
            state.withLock { s in s.detectedAt = s.detectedAt.filter { $0.key == hash } }
            logOnce("file", .info, "content settled", ["reload.sha256": "\(hash)"])
            return await validate(bytes, hash: hash, path: poller.resolvedPath())
        case .unreadable(let path, let reason):
            logOnce(
                "file", .warning, "cannot read the catalog; the last good content stays applied",
                ["path": "\(path)", "error": "\(reason)"])
            return false
        }
    }

    func validate(_ bytes: [UInt8], hash: String, path: String) async -> Bool {
        metrics.validations.increment()
        let verdict = await Validator(mode: configuration.validation, fileName: path).validate(bytes)
        let now = clock.now()
        switch verdict {
        case .valid:
            let action = state.withLock { s in
                s.validBytes = bytes
                return s.policy.event(.validated(hash: hash), now: now)
            }
            if case .holdRejected = action {
                logOnce(
                    "push", .info, "this content was refused before; not sent again until the file changes",
                    ["reload.sha256": "\(hash)"], key: "held-\(hash)")
                return false
            }
            return true
        case .invalid(let lines):
            metrics.validationFailures.increment()
            state.withLock { s in
                s.detectedAt[hash] = nil
                _ = s.policy.event(.invalid(hash: hash), now: now)
            }
            logger.warning(
                "invalid catalog: not signalled; the last good content stays applied\n\(lines.joined(separator: "\n"))",
                metadata: ["reload.sha256": "\(hash)", "errors": "\(lines.count)"])
            return false
        }
    }

    /// Signals the valid content when a push is due, confirms it, and gives the answer to the policy.
    func pushIfDue() async -> Result {
        let now = clock.now()
        guard
            let (hash, bytes) = state.withLock({ s -> (String, [UInt8])? in
                guard let hash = s.policy.takePush(now: now), let bytes = s.validBytes else { return nil }
                return (hash, bytes)
            })
        else {
            return state.withLock { s in
                s.policy.valid.map { s.policy.rejected.contains($0) } == true ? .rejected : .unreadable
            }
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
        let before = await peerAnswer()
        var outcome = await configuration.signaler.signal(bytes: bytes, sha256: hash, token: token)
        if outcome == .sent { outcome = await confirm(hash, bytes: bytes, before: before) }
        let answeredAt = clock.now()
        let (action, detected) = state.withLock { s in
            let action = s.policy.event(.answered(hash: hash, outcome), now: answeredAt, jitter: .random(in: 0..<0.2))
            if case .retry(let after) = action { s.wantTickAfter = min(s.wantTickAfter ?? after, after) }
            let detected: ContinuousClock.Instant? =
                switch outcome {
                case .confirmed, .rejected: s.detectedAt.removeValue(forKey: hash)
                default: nil
                }
            return (action, detected)
        }
        return record(outcome, hash: hash, action: action, detected: detected, now: answeredAt)
    }

    func record(
        _ outcome: SignalOutcome, hash: String, action: PushPolicy.Action, detected: ContinuousClock.Instant?,
        now: ContinuousClock.Instant
    ) -> Result {
        switch outcome {
        case .confirmed(let generation):
            metrics.reloads.increment(labels: ["result": "applied"])
            metrics.lastSuccess.set(Date().timeIntervalSince1970)
            metrics.appliedInfo.replaceAll([(["sha256": hash], 1)])
            if let detected { metrics.detectToApply.observe((now - detected).inSeconds) }
            var metadata: Logger.Metadata = ["reload.sha256": "\(hash)"]
            if configuration.stats == nil {
                metadata["confirmed_by"] = "\(configuration.peerConfirmation.map(\.name) ?? "the gateway's answer")"
            } else {
                metadata["reload.generation"] = "\(generation)"
            }
            logOnce("push", .info, "applied: the gateway confirmed the content live", metadata, key: hash)
            return .applied
        case .rejected(let reason):
            metrics.reloads.increment(labels: ["result": "rejected"])
            logger.warning(
                "the gateway refused this content; not sent again until the file changes",
                metadata: ["reload.sha256": "\(hash)", "reason": "\(reason)"])
            return .rejected
        case .sent:
            metrics.reloads.increment(labels: ["result": "unconfirmed"])
            logOnce(
                "push", .warning,
                configuration.stats == nil && configuration.peerConfirmation == nil
                    ? "signalled but unconfirmed: no way to read the gateway's state (set --stats-url for hotswap, --confirm-url or --confirm-command for another gateway)"
                    : "signalled but unconfirmed: the gateway did not show the change within \(configuration.confirmTimeout.shortText)",
                ["reload.sha256": "\(hash)"], key: "unconfirmed-\(hash)")
            return .unconfirmed
        case .transportError(let message):
            metrics.reloads.increment(labels: ["result": "error"])
            var retry = "\(configuration.minBackoff)"
            if case .retry(let after) = action { retry = "\(after)" }
            logOnce(
                "push", .warning, "cannot reach the gateway; retrying with backoff",
                ["reload.sha256": "\(hash)", "error": "\(message)", "retry_in": "\(retry)"], key: "error-\(hash)")
            return .unreachable
        }
    }

    /// Polls the gateway's `/stats` until it shows `hash` live (or, for another gateway, its peer confirmation
    /// holds), until the confirm timeout passes.
    func confirm(_ hash: String, bytes: [UInt8], before: HTTPReply?) async -> SignalOutcome {
        let deadline = ContinuousClock.now + configuration.confirmTimeout
        guard let stats = configuration.stats else {
            switch configuration.peerConfirmation {
            case nil:
                return .sent
            case .answerChanges:
                while ContinuousClock.now < deadline {
                    if let now = await peerAnswer(), (200..<300).contains(now.status), now.body != before?.body {
                        return .confirmed(generation: 0)
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            case .command(let check):
                while ContinuousClock.now < deadline {
                    let outcome = await check.run(on: bytes)
                    if outcome == .passed { return .confirmed(generation: 0) }
                    logOnce(
                        "confirm", .debug, "the confirm command does not pass yet",
                        ["output": "\(outcome)"], key: "\(hash)-\(outcome)")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            return .sent
        }
        while ContinuousClock.now < deadline {
            if let live = await liveHash(stats), live.hash == hash { return .confirmed(generation: live.generation) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return .sent
    }

    /// The `--confirm-url` answer now (nil without one, or when it cannot be read).
    func peerAnswer() async -> HTTPReply? {
        guard case .answerChanges(let endpoint, let path) = configuration.peerConfirmation else { return nil }
        return try? await onOwnThread {
            try ControlClient.request(endpoint, method: "GET", path: path, timeoutSeconds: 5)
        }
    }

    /// The gateway's live hash (nil when it serves no catalog) and generation; nil when it cannot be asked.
    func liveHash(_ endpoint: ControlEndpoint) async -> (hash: String?, generation: Int)? {
        guard let stats = try? await ControlAPIClient(endpoint: endpoint, timeoutSeconds: 5).stats() else { return nil }
        return (stats.configSha256, stats.generation)
    }

    /// Compares the gateway's live hash with the file's valid hash and pushes when they differ: a gateway that
    /// restarted with stale content converges without an edit.
    /// A gateway that serves no catalog at all (`config_sha256: null`: its file was unreadable or invalid when it
    /// started) is pushed to as well.
    func reconcile() async {
        guard let stats = configuration.stats, let live = await liveHash(stats) else { return }
        let now = clock.now()
        let (action, valid) = state.withLock { s in
            (s.policy.event(.observedLive(hash: live.hash), now: now), s.policy.valid)
        }
        guard case .push = action else { return }
        logger.info(
            live.hash == nil
                ? "reconcile: the gateway serves no catalog; pushing the file's"
                : "reconcile: the gateway serves other content; pushing the file's",
            metadata: ["live.sha256": "\(live.hash ?? "none")", "reload.sha256": "\(valid ?? "")"])
    }

    // MARK: Logging

    /// Logs a state change once: the same key in the same category is not repeated every poll.
    func logOnce(
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
