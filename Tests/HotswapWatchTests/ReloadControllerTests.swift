import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import HotswapWatch
import Logging
import MetricsTestKit
import Testing

/// The reload controller driven tick by tick: a file system in memory, a clock that moves when told, a signaler
/// that records, and swift-metrics' test factory. No process, no socket, no sleep.
@Suite("Reload controller (in-process, fake ticks)")
struct ReloadControllerTests {
    let fs = MemoryFileSystem()
    let clock = ManualClock()
    let signaler = ScriptedSignaler()
    let metrics = TestMetrics()
    let valid = "version: 1\nservers:\n  - id: a\n    runtime: { type: local-process, command: a }\n"
    let other = "version: 1\nservers:\n  - id: b\n    runtime: { type: local-process, command: b }\n"

    func controller(_ edit: (inout WatchConfiguration) -> Void = { _ in }) -> ReloadController {
        var settings = CatalogPoller.Settings(watch: "/c.yaml")
        settings.settle = .milliseconds(200)
        var configuration = WatchConfiguration(poller: settings, signaler: signaler)
        configuration.inotifyHint = false
        edit(&configuration)
        return ReloadController(
            configuration: configuration, logger: Logger(label: "test"), fileSystem: fs, clock: clock.watchClock,
            metrics: MetricsSink(factory: metrics))
    }

    /// Polls until the content settles (the clock moves by the settle time), and runs the worker's round.
    func settle(_ c: ReloadController) async {
        _ = await c.tick()
        clock.advance(by: .milliseconds(200))
        if await c.tick() { await c.work() }
    }

    func counter(_ name: String, _ dims: [(String, String)] = []) -> Int64 {
        (try? metrics.expectCounter(name, dims).totalValue) ?? 0
    }

    @Test("new valid content: settles, is validated once, pushed once with a signed token, and counted")
    func applies() async throws {
        let seed = try Crypto.ed25519GenerateSeed()
        let key = TokenKey(
            kid: "k", material: .ed25519Private(seed: seed, publicKey: try Crypto.ed25519PublicKey(seed: seed)))
        let c = controller { $0.signingKey = key }
        fs.set("/c.yaml", valid)
        #expect(await c.tick() == false, "new content waits to settle")
        #expect(signaler.sent.isEmpty)
        clock.advance(by: .milliseconds(199))
        #expect(await c.tick() == false)
        clock.advance(by: .milliseconds(1))
        #expect(await c.tick() == true)
        await c.work()
        let hash = ContentHash.sha256(Array(valid.utf8))
        #expect(signaler.sent.map(\.sha256) == [hash])
        let token = try #require(signaler.sent.first?.token)
        let claims = try ReloadTokenVerifier(keyring: Keyring([key]), audience: "hotswap-gateway")
            .verify(token, expecting: TokenExpectation(op: "reload", sha256: hash))
        #expect(claims.sha256 == hash)
        #expect(c.appliedHash == hash)
        for _ in 0..<3 { #expect(await c.tick() == false) }
        #expect(signaler.sent.count == 1, "unchanged content is not pushed again")
        #expect(counter("hotswap_sidecar_polls_total") == 6)
        #expect(counter("hotswap_sidecar_changes_detected_total") == 1)
        #expect(counter("hotswap_sidecar_validations_total") == 1)
        #expect(counter("hotswap_sidecar_reloads_total", [("result", "applied")]) == 1)
        #expect(try metrics.expectRecorder("hotswap_sidecar_detect_to_apply_seconds").lastValue == 0.2)
    }

    @Test("invalid content is never signalled, and the last good content stays applied")
    func invalid() async {
        let c = controller()
        fs.set("/c.yaml", valid)
        await settle(c)
        fs.set("/c.yaml", "version: 1\nservers:\n  - id: a\n    runtime: { type: local-process, comand: a }\n")
        await settle(c)
        #expect(signaler.sent.count == 1)
        #expect(c.appliedHash == ContentHash.sha256(Array(valid.utf8)))
        #expect(counter("hotswap_sidecar_validation_failures_total") == 1)
    }

    @Test("refused content is not sent again until the file changes")
    func refused() async {
        let c = controller()
        signaler.answer(.rejected("rolled back"))
        fs.set("/c.yaml", valid)
        await settle(c)
        #expect(signaler.sent.count == 1)
        fs.set("/c.yaml", valid)  // touched: a new stamp, the same bytes
        await settle(c)
        for _ in 0..<5 { if await c.tick() { await c.work() } }
        #expect(signaler.sent.count == 1)
        fs.set("/c.yaml", other)
        await settle(c)
        #expect(signaler.sent.count == 2)
        #expect(c.appliedHash == ContentHash.sha256(Array(other.utf8)))
        #expect(counter("hotswap_sidecar_reloads_total", [("result", "rejected")]) == 1)
    }

    /// Another gateway (SIGHUP, a plain POST) says nothing of the result: `--confirm-command` runs on the signalled
    /// content until it passes, and only then is the change applied; one that never passes leaves it unconfirmed.
    @Test("a signal that says nothing is confirmed by a command on the signalled content, or stays unconfirmed")
    func confirmCommand() async {
        let check = CheckCommand(argv: ["/bin/grep", "-q", "id: b", "{}"], timeout: .seconds(30), fileName: "c.yaml")
        func confirmed(within timeout: Duration) -> ReloadController {
            controller {
                $0.peerConfirmation = .command(check)
                $0.confirmTimeout = timeout
            }
        }
        let c = confirmed(within: .seconds(60))
        signaler.answer(.sent)
        fs.set("/c.yaml", other)
        await settle(c)
        #expect(c.appliedHash == ContentHash.sha256(Array(other.utf8)))
        #expect(counter("hotswap_sidecar_reloads_total", [("result", "applied")]) == 1)

        let never = confirmed(within: .milliseconds(300))
        signaler.answer(.sent)
        fs.set("/c.yaml", valid)
        await settle(never)
        #expect(never.appliedHash == nil, "the check never passed on content without server b")
        #expect(counter("hotswap_sidecar_reloads_total", [("result", "unconfirmed")]) == 1)
    }

    @Test("an unreachable gateway is retried on the clock's backoff, not on every tick")
    func retries() async {
        let c = controller()
        signaler.answer(.transportError("connection refused"), .transportError("connection refused"))
        fs.set("/c.yaml", valid)
        await settle(c)
        #expect(signaler.sent.count == 1)
        #expect(await c.tick() == false, "the retry is not due yet")
        clock.advance(by: .milliseconds(600))  // the first backoff is 500 ms plus up to 20%
        #expect(await c.tick() == true)
        await c.work()
        #expect(signaler.sent.count == 2)
        clock.advance(by: .milliseconds(900))
        #expect(await c.tick() == false, "the second backoff is 1 s")
        clock.advance(by: .milliseconds(300))
        #expect(await c.tick() == true)
        await c.work()
        #expect(signaler.sent.count == 3)
        #expect(c.appliedHash != nil)
        #expect(counter("hotswap_sidecar_reloads_total", [("result", "error")]) == 2)
    }

    @Test("health fails when no poll completes for three intervals")
    func health() async {
        let c = controller()
        fs.set("/c.yaml", valid)
        _ = await c.tick()
        #expect(c.isHealthy())
        clock.advance(by: .seconds(1) + .milliseconds(700))
        #expect(c.isHealthy())
        clock.advance(by: .milliseconds(200))
        #expect(!c.isHealthy())
        _ = await c.tick()
        #expect(c.isHealthy())
    }

    @Test("content already live at start (the gateway's own catalog) is not pushed again")
    func initial() async {
        let c = controller { $0.initialHash = ContentHash.sha256(Array(valid.utf8)) }
        fs.set("/c.yaml", valid)
        await settle(c)
        #expect(signaler.sent.isEmpty)
        #expect(counter("hotswap_sidecar_validations_total") == 0)
    }

    @Test("run(ticks:) polls once per tick and pushes off the poll path")
    func runsOnTicks() async throws {
        let c = controller()
        fs.set("/c.yaml", valid)
        let (ticks, tick) = AsyncStream.makeStream(of: Void.self)
        let running = Task { await c.run(ticks: ticks) }
        tick.yield()
        try await eventually("the first poll") { counter("hotswap_sidecar_polls_total") == 1 }
        clock.advance(by: .milliseconds(200))
        tick.yield()
        try await eventually("the push") { c.appliedHash != nil }
        tick.finish()
        await running.value
        #expect(signaler.sent.count == 1)
    }
}
