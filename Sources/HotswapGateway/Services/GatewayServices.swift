import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import HotswapWatch
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Holds the registry for the group's lifetime; at shutdown (after the listeners have stopped) drains
/// in-flight calls, bounded, and stops every child.
struct RegistryService: Service {
    let registry: Registry
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info(
            "shutting down: draining in-flight calls and stopping servers", metadata: ["timeout": "\(timeout)"])
        await registry.shutdown(timeout: timeout)
    }
}

/// SIGHUP re-reads `--config`; with verify keys, the token in `--token-file` must match it. A burst of
/// signals coalesces in the registry's queue.
struct SighupService: Service {
    let registry: Registry
    let configuration: GatewayConfiguration
    let verifier: ReloadTokenVerifier?
    let logger: Logger
    let tokenLane = BlockingLane(label: "token")

    /// After a SIGHUP reload, signals that arrive within this window wait for it and fold into one follow-up,
    /// so a burst (a sidecar and an operator at once, a loop of `kill -HUP`) costs at most two reloads.
    static let quietPeriod: Duration = .milliseconds(100)

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        // A stream that holds at most one pending signal: everything that arrives while a reload runs is one.
        let (pending, mark) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in pending {
                    await reload()
                    try? await Task.sleep(for: Self.quietPeriod)
                }
            }
            for await _ in signals.cancelOnGracefulShutdown() {
                logger.info("SIGHUP: re-reading the catalog", metadata: ["config": "\(configuration.configPath)"])
                mark.yield()
            }
            mark.finish()
        }
    }

    /// Without keys, a plain re-read. With keys, the catalog and the token file are read first and the token
    /// checked against exactly those bytes; a refused token never enters the reload queue.
    private func reload() async {
        guard let verifier else {
            _ = await registry.submit(ReloadRequest(bytes: nil, source: .sighup))
            return
        }
        let bytes: [UInt8]
        switch await registry.readConfig(source: .sighup) {
        case .success(let read): bytes = read
        case .failure(let box):
            logger.warning(
                "SIGHUP: cannot read the catalog; the live generation keeps serving",
                metadata: ["error": "\(box.report.errors?.first?.message ?? "")"])
            return
        }
        let sha = ContentHash.sha256(bytes)
        let claims: ReloadClaims
        do {
            claims = try verifier.verify(
                try await readToken(), expecting: TokenExpectation(op: "reload", sha256: sha))
        } catch {
            _ = await registry.refused(error, sha: sha, source: .sighup)
            return
        }
        _ = await registry.submit(
            ReloadRequest(bytes: bytes, source: .sighup, onApplied: { verifier.recordApplied(claims) }))
    }

    private func readToken() async throws(TokenRefusal) -> String {
        guard let tokenFile = configuration.tokenFile else {
            throw TokenRefusal(.missing, "verify keys are configured but no --token-file to read a token from")
        }
        switch await tokenLane.read(tokenFile, limit: 16 * 1024) {
        case .success(let token): return String(decoding: token, as: UTF8.self)
        case .failure(let failure): throw TokenRefusal(.missing, "cannot read the token file: \(failure)")
        }
    }
}

/// The gateway's own watcher (`--watch`): the sidecar's reload controller, signalling the registry in-process.
/// The registry validates what it is given (its report is the answer), so the controller does not validate
/// twice; a refused content is remembered and not applied again until the file changes.
struct WatchService: Service {
    let controller: ReloadController

    init(registry: Registry, configuration: GatewayConfiguration, initial: ReloadReport, logger: Logger) {
        var settings = CatalogPoller.Settings(watch: configuration.config)
        settings.file = configuration.configFile
        settings.settle = configuration.settle
        settings.fullHashEvery = configuration.fullHashEvery
        var watch = WatchConfiguration(poller: settings, signaler: RegistrySignaler(registry: registry))
        watch.interval = configuration.watchInterval
        watch.validation = .deferred
        watch.metricsPrefix = "hotswap_watch"
        watch.initialHash = initial.configSha256.isEmpty ? nil : initial.configSha256
        controller = ReloadController(configuration: watch, logger: logger, metrics: registry.metricsSink)
    }

    func run() async throws {
        // At shutdown the loop is cancelled, not left to finish its poll: a poll stuck on a dead mount must not
        // hold the gateway's exit.
        try await cancelWhenGracefulShutdown { await controller.run() }
    }
}

/// Hands content to the registry in-process: the report is the confirmation.
struct RegistrySignaler: Signaler {
    let registry: Registry
    var name: String { "in-process" }

    func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome {
        let report = await registry.submit(ReloadRequest(bytes: bytes, source: .watch))
        switch report.result {
        case .applied, .unchanged:
            guard report.configSha256 == sha256 else {
                return .transportError("a coalesced reload applied \(report.configSha256), not \(sha256)")
            }
            return .confirmed(generation: report.generation)
        case .rejected, .rolledBack, .refused, .dryRun:
            return .rejected(report.summary)
        }
    }
}

/// Ends every open event stream when graceful shutdown begins.
struct StreamCloserService: Service {
    let streams: SessionStreams

    func run() async throws {
        try? await gracefulShutdown()
        streams.closeAll()
    }
}

/// Stops servers that have been idle longer than their `idle_ttl`.
struct IdleService: Service {
    let registry: Registry

    func run() async throws {
        var next: Duration = .seconds(1)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Not a fixed tick: asleep until the next server could be due (at least a second, at most ten),
            // since every wake-up of an idle gateway costs CPU.
            // The sleep ends at a graceful shutdown too: the gateway must not wait for it to stop.
            let wait = max(.seconds(1), next)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            next = await registry.stopIdle()
        }
    }
}
