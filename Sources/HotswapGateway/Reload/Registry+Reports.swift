import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import Synchronization

extension Registry {
    // MARK: Reports

    nonisolated func baseReport(_ result: ReloadReport.Result, sha: String, source: ReloadSource)
        -> ReloadReport
    {
        ReloadReport(
            result: result, generation: live?.number ?? 0, configSha256: sha.isEmpty ? (live?.sha256 ?? "") : sha,
            source: source)
    }

    func fill(_ r: inout ReloadReport, diff: CatalogDiff, servers: Int, start: ContinuousClock.Instant) {
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

    func record(_ r: ReloadReport) {
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
            if let error = r.error, let server = r.server {
                meta["server.id"] = "\(server)"
                meta["error"] = "\(error)"
                logger.warning("reload applied; one server did not start and is retried with backoff", metadata: meta)
            } else {
                logger.info("reload applied", metadata: meta)
            }
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
}
