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

        public init(configPath: String?, environment: [String: String]) {
            self.configPath = configPath
            self.environment = environment
        }
    }

    public typealias LastReload = StatsReport.LastReload

    private let settings: Settings
    private nonisolated let fileLane = BlockingLane(label: "config")
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: GatewayMetrics
    /// Where the gateway's series go; its own watcher adds its series there too.
    nonisolated var metricsSink: MetricsSink { metrics.sink }
    private let toolsChanged: @Sendable () -> Void

    /// The generation being served. Read and swapped under a lock rather than through the actor, so calls
    /// never queue behind a reload that is parsing a large catalog.
    private let liveState = Mutex<Generation?>(nil)
    public nonisolated var live: Generation? { liveState.withLock { $0 } }
    private var generationCounter = 0
    public private(set) var lastReload: LastReload?
    /// Reloads answered so far, by result.
    public private(set) var reloadCounts: [String: Int] = [:]
    private var running = false
    private var pending: (request: ReloadRequest, waiters: [CheckedContinuation<ReloadReport, Never>])?
    /// Drains in progress, by a number of their own; each removes itself when done.
    private var draining: [Int: Task<Void, Never>] = [:]
    private var drainCounter = 0

    public init(
        settings: Settings, group: any EventLoopGroup, logger: Logger, metrics: GatewayMetrics,
        toolsChanged: @escaping @Sendable () -> Void = {}
    ) {
        self.settings = settings
        self.group = group
        self.logger = logger
        self.metrics = metrics
        self.toolsChanged = toolsChanged
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

    /// Applies a catalog through the serialized, coalescing reload path.
    public func submit(_ request: ReloadRequest) async -> ReloadReport {
        await withCheckedContinuation { (c: CheckedContinuation<ReloadReport, Never>) in
            if running {
                if var p = pending {
                    p.request = request
                    p.waiters.append(c)
                    pending = p
                } else {
                    pending = (request, [c])
                }
                metrics.reloadsCoalesced.increment()
                return
            }
            running = true
            Task { await self.runQueue(first: (request, [c])) }
        }
    }

    private func runQueue(first: (request: ReloadRequest, waiters: [CheckedContinuation<ReloadReport, Never>])) async {
        var job: (request: ReloadRequest, waiters: [CheckedContinuation<ReloadReport, Never>])? = first
        while let current = job {
            let report = await perform(current.request)
            for w in current.waiters { w.resume(returning: report) }
            job = pending
            pending = nil
        }
        running = false
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

    private var loadOptions: CatalogLoadOptions {
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
    private nonisolated func readContent(_ bytes: [UInt8]?, source: ReloadSource = .http) async -> Result<
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

    private func perform(_ request: ReloadRequest) async -> ReloadReport {
        let start = ContinuousClock.now
        var report = await apply(request, start: start)
        report.durationMs = Self.milliseconds(ContinuousClock.now - start)
        report.source = request.source
        record(report)
        if report.result == .applied || report.result == .unchanged { request.onApplied?() }
        return report
    }

    private func apply(_ request: ReloadRequest, start: ContinuousClock.Instant) async -> ReloadReport {
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
        let modifiedIDs = Set(diff.modified.map(\.id))

        // Unchanged servers carry their instance; the others get a new one.
        var backends: [Backend] = []
        var fresh: [Backend] = []
        for server in catalog.servers {
            if let carried = old?.backend(server.id), !modifiedIDs.contains(server.id) {
                backends.append(carried)
            } else {
                let b = makeBackend(server)
                backends.append(b)
                fresh.append(b)
            }
        }
        // Warm before the swap: a modified server that is running now, and any new `prestart` server.
        let warm = fresh.filter { b in
            b.definition.prestart || (old?.backend(b.id)?.isRunning ?? false)
        }
        if let failure = await warmUp(warm) {
            for b in fresh { await b.stop(to: .stopped) }
            var r = baseReport(.rolledBack, sha: sha, source: request.source)
            r.server = failure.server
            r.error = failure.message
            fill(&r, diff: diff, servers: catalog.servers.count, start: start)
            return r
        }

        generationCounter += 1
        let generation = Generation(number: generationCounter, sha256: sha, catalog: catalog, backends: backends)
        liveState.withLock { $0 = generation }
        // Removed and replaced instances drain and stop behind the swap.
        let kept = Set(backends.map(\.instance))
        for b in old?.backends ?? [] where !kept.contains(b.instance) {
            b.retire()
            let timeout = b.definition.drainTimeout.duration
            let metrics = self.metrics
            drainCounter += 1
            let key = drainCounter
            draining[key] = Task {
                let began = ContinuousClock.now
                await b.drainAndStop(timeout: timeout)
                metrics.drainDuration.observe(Self.seconds(ContinuousClock.now - began))
                self.drainFinished(key)
            }
        }
        var r = baseReport(.applied, sha: sha, source: request.source)
        fill(&r, diff: diff, servers: catalog.servers.count, start: start)
        if !diff.isEmpty { toolsChanged() }
        return r
    }

    private nonisolated static func load(_ content: [UInt8], options: CatalogLoadOptions) async -> CatalogLoadResult {
        CatalogLoader.load(content, options: options)
    }

    private nonisolated static func diff(from old: Catalog?, to new: Catalog) async -> CatalogDiff {
        CatalogDiff(from: old ?? Catalog(servers: []), to: new)
    }

    private struct WarmFailure: Error {
        var server: String
        var message: String
    }

    /// Starts backends concurrently; returns the first failure, if any.
    private func warmUp(_ backends: [Backend]) async -> WarmFailure? {
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

    private func makeBackend(_ server: ServerDefinition) -> Backend {
        Backend(
            definition: server,
            environment: ChildEnvironment.base(from: settings.environment, passing: settings.passEnvironment),
            group: group, logger: logger,
            stopGrace: settings.stopGrace, onToolsChanged: toolsChanged)
    }

    private func drainFinished(_ key: Int) { draining[key] = nil }

    /// Waits for every drain in progress (shutdown, tests).
    public func waitForDrains() async {
        for t in draining.values { await t.value }
    }

    /// Stops every backend: in-flight calls get up to `timeout`, then processes are terminated.
    public func shutdown(timeout: Duration) async {
        let backends = live?.backends ?? []
        for b in backends { b.retire() }
        await withTaskGroup(of: Void.self) { group in
            for b in backends { group.addTask { await b.drainAndStop(timeout: timeout) } }
        }
        await waitForDrains()
    }

    /// Stops servers idle longer than their `idle_ttl`.
    public func stopIdle() async {
        for b in live?.backends ?? [] { _ = await b.stopIfIdle() }
    }

    // MARK: Reports

    private nonisolated func baseReport(_ result: ReloadReport.Result, sha: String, source: ReloadSource)
        -> ReloadReport
    {
        ReloadReport(
            result: result, generation: live?.number ?? 0, configSha256: sha.isEmpty ? (live?.sha256 ?? "") : sha,
            source: source)
    }

    private func fill(_ r: inout ReloadReport, diff: CatalogDiff, servers: Int, start: ContinuousClock.Instant) {
        r.added = diff.added
        r.removed = diff.removed
        r.modified = diff.modified.map(\.id)
        r.unchanged = diff.unchanged
        r.changedFields =
            diff.modified.isEmpty ? nil : Dictionary(uniqueKeysWithValues: diff.modified.map { ($0.id, $0.changed) })
        r.serversLoaded = servers
        r.generation = live?.number ?? 0
        r.durationMs = Self.milliseconds(ContinuousClock.now - start)
    }

    private func record(_ r: ReloadReport) {
        lastReload = LastReload(
            at: Date.now.timeIntervalSince1970, source: r.source, result: r.result, durationMs: r.durationMs,
            generation: r.generation, configSha256: r.configSha256)
        reloadCounts[r.result.rawValue, default: 0] += 1
        metrics.reloads.increment(labels: ["result": r.result.rawValue, "source": r.source.rawValue])
        metrics.reloadDuration.observe(r.durationMs / 1000)
        if let live {
            metrics.setLive(generation: live.number, sha256: live.sha256)
        }
        var meta: Logger.Metadata = [
            "reload.generation": "\(r.generation)", "reload.sha256": "\(r.configSha256)",
            "reload.source": "\(r.source.rawValue)", "reload.result": "\(r.result.rawValue)",
            "reload.duration_ms": "\(String(format: "%.2f", r.durationMs))",
        ]
        switch r.result {
        case .applied:
            meta["reload.added"] = "\(r.added)"
            meta["reload.removed"] = "\(r.removed)"
            meta["reload.modified"] = "\(r.modified)"
            logger.info("reload applied", metadata: meta)
        case .unchanged:
            logger.info("reload unchanged: this content is already live", metadata: meta)
        case .dryRun:
            break
        case .rejected:
            meta["reload.errors"] = "\((r.errors ?? []).map { "\($0.line):\($0.column): \($0.path): \($0.message)" })"
            logger.warning("reload rejected: the catalog is invalid; the live generation keeps serving", metadata: meta)
        case .rolledBack:
            meta["server.id"] = "\(r.server ?? "")"
            meta["error"] = "\(r.error ?? "")"
            logger.warning("reload rolled back: a warm start failed; the live generation keeps serving", metadata: meta)
        case .refused:
            meta["token.reason"] = "\(r.reason ?? "")"
            meta["error"] = "\(r.message ?? "")"
            logger.warning("reload refused: the token was not accepted", metadata: meta)
        }
    }

    static func errorItem(_ d: CatalogDiagnostic) -> ReloadReport.ErrorItem {
        ReloadReport.ErrorItem(path: d.path, line: d.line, column: d.column, message: d.message, hint: d.hint)
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    static func seconds(_ d: Duration) -> Double { milliseconds(d) / 1000 }
}

/// A report carried through `Result`'s failure side.
public struct ReloadReportBox: Error {
    public var report: ReloadReport
    init(_ report: ReloadReport) { self.report = report }
}
