import HotswapAPI
import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import Logging
import Testing

@testable import HotswapGateway

/// The registry with in-memory backends: the reload table's rows as they happen (warm before the swap, drain
/// after it, all or nothing), crash and restart, cancellation, shutdown. No process is started.
@Suite("Registry with in-memory backends")
struct RegistryTests {
    let launcher = InMemoryLauncher()
    let registry: Registry

    init() {
        var settings = Registry.Settings(configPath: nil, environment: [:])
        settings.stopGrace = .seconds(1)
        registry = Registry(
            settings: settings, launcher: launcher, logger: Logger(label: "test"), metrics: GatewayMetrics())
    }

    /// `servers`: id, version (the fake's command), prestart.
    func apply(_ servers: [(String, String, Bool)], drainTimeout: String = "30s") async -> ReloadReport {
        var yaml = "version: 1\nservers:\n"
        for (id, version, prestart) in servers {
            yaml += "  - id: \(id)\n    prestart: \(prestart)\n    drain_timeout: \(drainTimeout)\n"
            yaml += "    runtime: {type: local-process, command: \(version)}\n"
        }
        return await registry.submit(ReloadRequest(bytes: Array(yaml.utf8), source: .socket))
    }

    func call(_ id: String, _ tool: String = "echo") async throws -> RPCOutcome {
        let backend = try #require(registry.lease(id))
        defer { backend.release() }
        return try await backend.call(
            method: "tools/call", params: ["name": .string(tool), "arguments": ["text": "hi"]])
    }

    func callText(_ id: String, _ tool: String = "echo") async throws -> String? {
        text(try await call(id, tool))
    }

    func text(_ outcome: RPCOutcome) -> String? {
        guard case .result(let r) = outcome else { return nil }
        return r["content"]?.arrayValue?.first?["text"]?.stringValue
    }

    /// Runs `body` with the registry's supervisor running, and shuts the registry down after it.
    func supervised(_ body: () async throws -> Void) async throws {
        async let supervising: Void = registry.supervise()
        do {
            try await body()
        } catch {
            await registry.shutdown(timeout: .seconds(1))
            await supervising
            throw error
        }
        await registry.shutdown(timeout: .seconds(1))
        await supervising
    }

    @Test("servers start cold on their first call; prestart ones before the swap")
    func coldAndPrestart() async throws {
        try await supervised { () async throws in
            let report = await apply([("a", "v1", false), ("b", "v1", true)])
            #expect(report.result == .applied)
            #expect(launcher.servers("a").isEmpty)
            #expect(launcher.servers("b").count == 1)
            #expect(registry.live?.backend("b")?.phase == .ready)
            #expect(try await callText("a") == "v1:hi")
            #expect(launcher.servers("a").count == 1)
        }
    }

    @Test("modified while running: warmed before the swap; the old instance finishes its call, then stops")
    func modifiedDrainsFirst() async throws {
        try await supervised { () async throws in
            _ = await apply([("a", "v1", false)])
            #expect(try await callText("a") == "v1:hi")
            let old = try #require(launcher.servers("a").first)
            let inFlight = Task { try await call("a", "hold") }
            try await eventually("the call to reach the old server") { old.heldCount == 1 }
            let report = await apply([("a", "v2", false)])
            #expect(report.result == .applied)
            #expect(report.modified == ["a"])
            #expect(launcher.servers("a").count == 2, "the replacement was started before the swap")
            #expect(registry.live?.backend("a")?.phase == .ready)
            #expect(try await callText("a") == "v2:hi", "new calls go to the new instance")
            #expect(!old.isTerminated, "the old one drains while its call runs")
            old.release()
            #expect(text(try await inFlight.value) ?? "" == "v1:held", "the in-flight call finished on the old one")
            try await eventually("the old instance to stop after its drain") { old.isTerminated }
        }
    }

    @Test("a replacement that fails to start rolls the reload back; the old catalog keeps serving")
    func rollback() async throws {
        try await supervised { () async throws in
            _ = await apply([("a", "v1", false), ("b", "v1", false)])
            _ = try await call("a")
            let generation = registry.live?.number
            let report = await apply([("a", "refuse", false), ("b", "v2", false)])
            #expect(report.result == .rolledBack)
            #expect(report.server == "a")
            #expect(report.error?.contains("refused initialize") == true)
            #expect(registry.live?.number == generation)
            #expect(try await callText("a") == "v1:hi")
            #expect(try await callText("b") == "v1:hi")
        }
    }

    /// With nothing live there is nothing to keep: a server that fails its warm start at the first load (a remote
    /// that is down when the pod starts) must not leave the gateway unready until the file changes.
    @Test("the first catalog is served even when a prestart server fails; that server is retried")
    func firstLoadServesTheRest() async throws {
        try await supervised { () async throws in
            let report = await apply([("a", "refuse", true), ("b", "v1", true)])
            #expect(report.result == .applied)
            #expect(report.server == "a" && report.error?.contains("refused initialize") == true, "\(report)")
            #expect(registry.live?.catalog.servers.map(\.id) == ["a", "b"])
            #expect(try await callText("b") == "v1:hi")
            try await eventually("the failed server to be started again") { launcher.servers("a").count >= 2 }
        }
    }

    @Test("removed: leaves at the swap, takes no new calls, stops after its in-flight call")
    func removed() async throws {
        try await supervised { () async throws in
            _ = await apply([("a", "v1", false), ("b", "v1", false)])
            _ = try await call("b")
            let b = try #require(launcher.servers("b").first)
            let inFlight = Task { try await call("b", "hold") }
            try await eventually("the call to reach b") { b.heldCount == 1 }
            #expect(await apply([("a", "v1", false)]).removed == ["b"])
            #expect(registry.lease("b") == nil)
            b.release()
            #expect(text(try await inFlight.value) ?? "" == "v1:held")
            try await eventually("b to stop") { b.isTerminated }
        }
    }

    @Test("a crashed server fails its in-flight call, backs off, and is started again")
    func crashRestarts() async throws {
        try await supervised { () async throws in
            _ = await apply([("a", "v1", false)])
            _ = try await call("a")
            let first = try #require(launcher.servers("a").first)
            let inFlight = Task { try await call("a", "hold") }
            try await eventually("the call to reach a") { first.heldCount == 1 }
            first.crash()
            await #expect(throws: BackendError.self) { _ = try await inFlight.value }
            let backend = try #require(registry.live?.backend("a"))
            #expect(backend.status.restarts == 1)
            try await eventually("a restart after the backoff", timeout: .seconds(20)) {
                launcher.servers("a").count == 2 && backend.phase == .ready
            }
            #expect(try await callText("a") == "v1:hi")
        }
    }

    @Test("a call whose caller goes away is cancelled at the server and frees its slot")
    func cancelledCall() async throws {
        try await supervised { () async throws in
            _ = await apply([("a", "v1", false)])
            _ = try await call("a")
            let server = try #require(launcher.servers("a").first)
            let backend = try #require(registry.live?.backend("a"))
            let call = Task { try await self.call("a", "hold") }
            try await eventually("the call to reach a") { server.heldCount == 1 }
            call.cancel()
            await #expect(throws: CancellationError.self) { _ = try await call.value }
            try await eventually("the server to be told") { server.cancelledIDs.withLock { $0.count } == 1 }
            #expect(backend.slots.active == 0)
            #expect(backend.inFlight == 0)
        }
    }

    @Test("shutdown bounds a drain left from an earlier swap by its own timeout, not the server's drain_timeout")
    func shutdownBoundsOldDrains() async throws {
        async let supervising: Void = registry.supervise()
        _ = await apply([("a", "v1", false), ("b", "v1", false)], drainTimeout: "1h")
        _ = try await call("b")
        let b = try #require(launcher.servers("b").first)
        let inFlight = Task { try? await call("b", "hold") }
        try await eventually("the call to reach b") { b.heldCount == 1 }
        _ = await apply([("a", "v1", false)], drainTimeout: "1h")
        #expect(!b.isTerminated, "b drains: its call is still running")
        await registry.shutdown(timeout: .milliseconds(50))
        await supervising
        #expect(b.isTerminated, "shutdown stopped it without waiting an hour")
        _ = await inFlight.value
    }

    @Test("shutdown stops every server and ends the supervisor; reloads after it change nothing")
    func shutdown() async throws {
        async let supervising: Void = registry.supervise()
        _ = await apply([("a", "v1", true), ("b", "v1", true)])
        await registry.shutdown(timeout: .seconds(1))
        await supervising
        #expect(launcher.launched.withLock { $0 }.allSatisfy { $0.isTerminated })
        #expect(await registry.phase == .stopped)
        let report = await apply([("a", "v2", true)])
        #expect(report.result != .applied)
        #expect(launcher.servers("a").count == 1, "nothing starts after shutdown")
    }
}
