import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import Synchronization

/// A request to apply a catalog. Only authorized requests are made into one: tokens are checked at the edge
/// (the route, the SIGHUP service) before anything enters the coalescing queue, so an unauthenticated caller
/// can never displace a signed reload waiting there.
public struct ReloadRequest: Sendable {
    /// The exact bytes to apply, or nil to re-read the gateway's `--config`.
    public var bytes: [UInt8]?
    public var source: ReloadSource
    /// Runs after a successful apply (records the token as applied).
    public var onApplied: (@Sendable () -> Void)?

    public init(bytes: [UInt8]?, source: ReloadSource, onApplied: (@Sendable () -> Void)? = nil) {
        self.bytes = bytes
        self.source = source
        self.onApplied = onApplied
    }
}

/// The catalog being served: its number, hash, and one backend per server.
public final class Generation: Sendable {
    public let number: Int
    public let sha256: String
    public let catalog: Catalog
    /// In catalog order.
    public let backends: [Backend]
    let byID: [String: Backend]

    init(number: Int, sha256: String, catalog: Catalog, backends: [Backend]) {
        self.number = number
        self.sha256 = sha256
        self.catalog = catalog
        self.backends = backends
        self.byID = Dictionary(uniqueKeysWithValues: backends.map { ($0.id, $0) })
    }

    public func backend(_ id: String) -> Backend? { byID[id] }
}

/// Numbered generations and the one serialized path every reload takes.
///
/// Reloads run one at a time; requests that arrive meanwhile coalesce into a single follow-up of the newest
/// content, and each of their callers gets that follow-up's report. Calls keep being served during a reload:
/// leases are taken here, between awaits, so a swap never races one.
public actor Registry {
    public struct Settings: Sendable {
        public var configPath: String?
        public var environment: [String: String]
        public var limits: YAMLLimits = .default
        public var stopGrace: Duration = .seconds(5)
        /// Names of the gateway's environment variables every server also gets (`--pass-env`).
        public var passEnvironment: [String] = []
        /// CA files trusted for every remote server besides the system's and its own `tls.ca_file` (`--ca-file`).
        public var caFiles: [String] = []

        public init(configPath: String?, environment: [String: String]) {
            self.configPath = configPath
            self.environment = environment
        }
    }

    public typealias LastReload = StatsReport.LastReload

    let settings: Settings
    nonisolated let fileLane = BlockingLane(label: "config")
    /// Starts what runs behind each backend: child processes, or an in-memory server in tests.
    let launcher: any BackendLauncher
    let logger: Logger
    let metrics: GatewayMetrics
    /// Where the gateway's series go; its own watcher adds its series there too.
    nonisolated var metricsSink: MetricsSink { metrics.sink }
    /// Where backends report list changes and notifications for clients.
    let events: BackendEvents

    /// The generation being served. Read and swapped under a lock rather than through the actor, so calls
    /// never queue behind a reload that is parsing a large catalog.
    let liveState = Mutex<Generation?>(nil)
    public nonisolated var live: Generation? { liveState.withLock { $0 } }
    var generationCounter = 0
    public internal(set) var lastReload: LastReload?
    /// Reloads answered so far, by result.
    public internal(set) var reloadCounts: [String: Int] = [:]
    /// Serving until shutdown begins; re-checked after every await of a reload, so none swaps in a generation
    /// (or starts a process) once the gateway is stopping.
    public internal(set) var phase: Phase = .serving
    /// Waiters are the callers that joined a follow-up; the caller that starts the queue waits on nothing (nil).
    var queue = ReloadQueue<ReloadRequest, CheckedContinuation<Turn, Never>?>()
    /// Every drain of a retired backend; waited for at shutdown.
    let drains = TaskSupervisor()
    /// Backends draining now (retired by a swap), so shutdown can bound their drains by its own timeout.
    nonisolated let draining = Mutex<[Int: Backend]>([:])
    /// Every backend's own tasks (starts, restart timers, tool refreshes, server requests); cancelled at
    /// shutdown once the backends have stopped.
    let backendTasks = TaskSupervisor()

    public enum Phase: Sendable, Equatable { case serving, shuttingDown, stopped }

    /// What a coalesced caller is woken with: the report of the follow-up it joined, or the follow-up itself to
    /// run (the queue's runner passes on to one of its waiters rather than holding its own caller's answer back).
    enum Turn: Sendable {
        case report(ReloadReport)
        case run(ReloadRequest, waiters: [CheckedContinuation<Turn, Never>])
    }

    public init(
        settings: Settings, group: any EventLoopGroup, logger: Logger, metrics: GatewayMetrics,
        events: BackendEvents = BackendEvents()
    ) {
        self.init(
            settings: settings, launcher: RuntimeLauncher(group: group, caFiles: settings.caFiles), logger: logger,
            metrics: metrics,
            events: events)
    }

    public init(
        settings: Settings, launcher: any BackendLauncher, logger: Logger, metrics: GatewayMetrics,
        events: BackendEvents = BackendEvents()
    ) {
        self.settings = settings
        self.launcher = launcher
        self.logger = logger
        self.metrics = metrics
        self.events = events
    }

    public nonisolated var isReady: Bool { live != nil }

    // MARK: Leases and lookups

    /// The live backend for a server id, with an in-flight lease taken; nil when there is none.
    public nonisolated func lease(_ id: String) -> Backend? {
        // Under the same lock as the swap: a lease is taken on the generation before or after it, never between.
        liveState.withLock { live in
            guard let backend = live?.backend(id), backend.acquire() else { return nil }
            return backend
        }
    }

    // MARK: Reload

    /// Applies a catalog through the serialized, coalescing reload path. The reload runs in a caller's task:
    /// the first caller's, or, for a follow-up, one of the callers that joined it.
    public func submit(_ request: ReloadRequest) async -> ReloadReport {
        guard phase == .serving else { return stopping(request.source) }
        var turn: Turn
        if queue.isRunning {
            metrics.reloadsCoalesced.increment()
            turn = await withCheckedContinuation { c in _ = queue.submit(request, waiter: c) }
        } else {
            _ = queue.submit(request, waiter: nil)
            turn = .run(request, waiters: [])
        }
        while case .run(let job, let waiters) = turn {
            let report = await perform(job)
            for w in waiters { w.resume(returning: .report(report)) }
            switch queue.finished() {
            case .run(let next, let nextWaiters):
                // Hand the follow-up to one of its callers; this caller has its answer.
                let callers = nextWaiters.compactMap { $0 }
                callers.first?.resume(returning: .run(next, waiters: Array(callers.dropFirst())))
            case .coalesced, .idle:
                break
            }
            turn = .report(report)
        }
        guard case .report(let report) = turn else { return stopping(request.source) }
        return report
    }

    /// The answer to a reload asked for while the gateway stops.
    nonisolated func stopping(_ source: ReloadSource) -> ReloadReport {
        var r = baseReport(.rejected, sha: "", source: source)
        r.message = "the gateway is shutting down; nothing was changed"
        return r
    }

    /// Validates and diffs against the live generation without changing anything (`?dry_run=1`).
    public func dryRun(_ bytes: [UInt8]?) async -> ReloadReport {
        let start = ContinuousClock.now
        let source = ReloadSource.http
        let content: [UInt8]
        switch await readContent(bytes) {
        case .success(let b): content = b
        case .failure(let box): return box.report
        }
        let sha = ContentHash.sha256(content)
        var report = baseReport(.dryRun, sha: sha, source: source)
        let loaded = CatalogLoader.load(content, options: loadOptions)
        guard let catalog = loaded.catalog else {
            report.result = .rejected
            report.errors = loaded.errors.map(Self.errorItem)
            return report
        }
        let diff = CatalogDiff(from: live?.catalog ?? Catalog(servers: []), to: catalog)
        fill(&report, diff: diff, servers: catalog.servers.count, start: start)
        return report
    }

    var loadOptions: CatalogLoadOptions {
        CatalogLoadOptions(dialect: .auto, environment: .expand(settings.environment), limits: settings.limits)
    }

    /// Records a reload refused at the edge (its token was not accepted), as logs, metrics and `/stats` show
    /// every reload, and returns its report. It never entered the queue.
    public func refused(_ refusal: TokenRefusal, sha: String, source: ReloadSource) -> ReloadReport {
        var r = baseReport(.refused, sha: sha, source: source)
        r.reason = refusal.reason.rawValue
        r.message = refusal.message
        record(r)
        return r
    }

    /// Reads `--config` for a reload without a body, so its token can be checked against exactly these bytes
    /// before the reload is queued.
    public nonisolated func readConfig(source: ReloadSource) async -> Result<[UInt8], ReloadReportBox> {
        await readContent(nil, source: source)
    }

    /// The request's bytes, or `--config` read on the registry's file lane: a hung mount fails this reload after
    /// `fileReadDeadline` instead of holding a request thread (or the reload queue) forever.
    nonisolated func readContent(_ bytes: [UInt8]?, source: ReloadSource = .http) async -> Result<
        [UInt8], ReloadReportBox
    > {
        if let bytes { return .success(bytes) }
        guard let path = settings.configPath else {
            var r = baseReport(.rejected, sha: "", source: source)
            r.errors = [
                ReloadReport.ErrorItem(
                    path: "", line: 1, column: 1,
                    message: "the request has no body and the gateway has no --config to re-read",
                    hint: "send the catalog as the request body")
            ]
            return .failure(ReloadReportBox(r))
        }
        switch await fileLane.read(path, limit: settings.limits.maxBytes) {
        case .success(let bytes): return .success(bytes)
        case .failure(let error):
            var r = baseReport(.rejected, sha: "", source: source)
            r.errors = [
                ReloadReport.ErrorItem(
                    path: "", line: 1, column: 1, message: error.description,
                    hint: "check the mount and the file's permissions")
            ]
            return .failure(ReloadReportBox(r))
        }
    }

    func perform(_ request: ReloadRequest) async -> ReloadReport {
        let start = ContinuousClock.now
        var report = await apply(request, start: start)
        report.durationMs = Self.milliseconds(ContinuousClock.now - start)
        report.source = request.source
        record(report)
        if report.result == .applied || report.result == .unchanged { request.onApplied?() }
        return report
    }

    func apply(_ request: ReloadRequest, start: ContinuousClock.Instant) async -> ReloadReport {
        let content: [UInt8]
        switch await readContent(request.bytes, source: request.source) {
        case .success(let b): content = b
        case .failure(let box): return box.report
        }
        let sha = ContentHash.sha256(content)
        if let live, live.sha256 == sha {
            var r = baseReport(.unchanged, sha: sha, source: request.source)
            r.unchanged = live.catalog.servers.map(\.id)
            r.serversLoaded = live.backends.count
            return r
        }
        // Parsing a large catalog happens off the actor; nothing else waits for it.
        let loaded = await Self.load(content, options: loadOptions)
        guard let catalog = loaded.catalog else {
            var r = baseReport(.rejected, sha: sha, source: request.source)
            r.errors = loaded.errors.map(Self.errorItem)
            return r
        }
        let old = live
        let diff = await Self.diff(from: old?.catalog, to: catalog)
        let plan = SwapPlan(live: old?.catalog, next: catalog, diff: diff) { id in old?.backend(id)?.isRunning ?? false
        }
        var backends: [Backend] = []
        var fresh: [Backend] = []
        for (server, (_, step)) in zip(catalog.servers, plan.steps) {
            if step == .carry, let carried = old?.backend(server.id) {
                backends.append(carried)
            } else {
                let b = makeBackend(server)
                backends.append(b)
                fresh.append(b)
            }
        }
        let warm = fresh.filter { plan.step($0.id) == .warm }
        // Beside a live generation, warm starts run at a lower priority: the calls being served come first.
        if old != nil { for b in warm { b.warmBehind() } }
        let failure = await warmUp(warm)
        // With nothing live (the first catalog), a server that fails its warm start does not hold the others
        // back: rolling back would keep nothing, and a gateway that never becomes ready until the file changes
        // (a remote server down when the pod starts) is worse. It stays in its backoff and is retried.
        let startsAnyway = failure != nil && old == nil && phase == .serving
        // Re-checked after the await: a reload that warmed while shutdown began swaps nothing in.
        if (failure != nil && !startsAnyway) || phase != .serving {
            for b in fresh { await b.stop(to: .stopped) }
            guard let failure else { return stopping(request.source) }
            var r = baseReport(.rolledBack, sha: sha, source: request.source)
            r.server = failure.server
            r.error = failure.message
            fill(&r, diff: diff, servers: catalog.servers.count, start: start)
            return r
        }

        for b in warm { b.warmed() }
        generationCounter += 1
        let generation = Generation(number: generationCounter, sha256: sha, catalog: catalog, backends: backends)
        liveState.withLock { $0 = generation }
        // Removed and replaced instances drain and stop behind the swap.
        let kept = Set(backends.map(\.instance))
        for b in old?.backends ?? [] where !kept.contains(b.instance) {
            b.retire()
            let metrics = self.metrics
            draining.withLock { $0[b.instance] = b }
            drains.spawn { [self] in
                let began = ContinuousClock.now
                await b.drainAndStop(timeout: b.definition.drainTimeout.duration)
                metrics.drainDuration.observe((ContinuousClock.now - began).inSeconds)
                draining.withLock { _ = $0.removeValue(forKey: b.instance) }
            }
        }
        var r = baseReport(.applied, sha: sha, source: request.source)
        fill(&r, diff: diff, servers: catalog.servers.count, start: start)
        if startsAnyway, let failure {
            r.server = failure.server
            r.error = failure.message
            r.message = "server '\(failure.server)' did not start; it is retried with backoff (see GET /servers)"
        }
        if !diff.isEmpty {
            let leaving = (old?.backends ?? []).filter { !kept.contains($0.instance) }
            for kind in Self.changedLists(leaving + fresh) { events.listChanged(kind) }
        }
        return r
    }

    /// The lists a swap may have changed, from the servers that left or came: tools always; prompts and
    /// resources when one of them offers some, or has not started yet (its lists are unknown).
    nonisolated static func changedLists(_ involved: [Backend]) -> [ListKind] {
        var kinds: [ListKind] = [.tools]
        let offerings = involved.map(\.offerings)
        if offerings.contains(where: { $0 == nil || !$0!.prompts.isEmpty }) { kinds.append(.prompts) }
        if offerings.contains(where: { $0 == nil || !$0!.resources.isEmpty || !$0!.resourceTemplates.isEmpty }) {
            kinds.append(.resources)
        }
        return kinds
    }

    nonisolated static func load(_ content: [UInt8], options: CatalogLoadOptions) async -> CatalogLoadResult {
        CatalogLoader.load(content, options: options)
    }

    nonisolated static func diff(from old: Catalog?, to new: Catalog) async -> CatalogDiff {
        CatalogDiff(from: old ?? Catalog(servers: []), to: new)
    }

    struct WarmFailure: Error {
        var server: String
        var message: String
    }

    /// Starts backends concurrently; returns the first failure, if any.
    func warmUp(_ backends: [Backend]) async -> WarmFailure? {
        guard !backends.isEmpty else { return nil }
        return await withTaskGroup(of: WarmFailure?.self) { group in
            for b in backends {
                group.addTask {
                    do {
                        try await b.ensureStarted()
                        return nil
                    } catch {
                        return WarmFailure(server: b.id, message: "\(error)")
                    }
                }
            }
            var first: WarmFailure?
            for await result in group where first == nil { first = result }
            return first
        }
    }

    func makeBackend(_ server: ServerDefinition) -> Backend {
        Backend(
            definition: server,
            environment: ChildEnvironment.base(from: settings.environment, passing: settings.passEnvironment),
            launcher: launcher, logger: logger, tasks: backendTasks,
            stopGrace: settings.stopGrace, events: events)
    }
}

/// A report carried through `Result`'s failure side.
public struct ReloadReportBox: Error {
    public var report: ReloadReport
    init(_ report: ReloadReport) { self.report = report }
}
