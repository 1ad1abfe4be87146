import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapGateway
import HotswapRuntime
import HotswapTestSupport
import Logging
import NIOPosix
import Testing

/// A catalog entry for the misbehaving Python server (standard library only: the system python3 runs it).
func misbehaving(_ id: String, marker: String, flags: [String] = []) -> String {
    let script = TestPaths.packageRoot.appendingPathComponent("scripts/interop/misbehaving_server.py").path
    let args = ([script, marker] + flags).map { "\"\($0)\"" }.joined(separator: ", ")
    return """
          - id: \(id)
            runtime:
              type: local-process
              command: /usr/bin/python3
              args: [\(args)]
        """
}

@Suite("Robust backends (real processes)", .serialized)
struct RobustBackendTests {
    /// Issue 9, item 8: the line framing rescanned its whole buffer on every read (20 MB took 29 s), and a line
    /// over the limit closed the connection.
    @Test("a large result passes in linear time; one over the limit fails alone and the server lives on")
    func largeResults() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + misbehaving("m", marker: m), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let started = ContinuousClock.now
        let text = try await onThread { try client.tool("m__big", ["mb": 12]) }
        #expect(text.utf8.count == 12 << 20)
        #expect(ContinuousClock.now - started < .seconds(60), "12 MB took \(ContinuousClock.now - started)")
        let pid = try gw.pid("m")
        let over = try await onThread { try client.call("tools/call", ["name": "m__big", "arguments": ["mb": 70]]) }
        #expect(over["error"]?["message"]?.stringValue?.contains("over the gateway's limit") == true, "\(over.text)")
        #expect(try client.tool("m__big", ["mb": .double(0.001)]).utf8.count == 1048)
        #expect(try gw.pid("m") == pid, "the connection and the process survived")
        try await gw.finish()
    }

    /// Issue 9, item 9: a server's stderr was relayed without limit.
    @Test("a server flooding stderr is relayed at a bounded rate, and the drops are counted")
    func stderrIsBounded() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + misbehaving("m", marker: m, flags: ["--flood-stderr", "50000"]),
            marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        #expect(try await onThread { try client.tool("m__flood", ["lines": 20000]) } == "flooded")
        try await eventually("the drops to be reported") { gw.log.contains("lines dropped") }
        let relayed = gw.log.components(separatedBy: "flood line").count - 1
        #expect(relayed < 5_000, "\(relayed) of 70,000 lines relayed")
        try await gw.finish()
    }

    /// Issue 9, item 4: a crashed server's children in its process group were orphaned.
    @Test("when a server crashes, the processes it started in its group go with it")
    func crashTakesTheGroup() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: "version: 1\nservers:\n" + misbehaving("m", marker: m), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let child = try #require(Int32(try client.tool("m__spawn")))
        #expect(GatewayProcess.isAlive(child))
        _ = try? client.call("tools/call", ["name": "m__crash", "arguments": [:]])
        try await eventually("the crashed server's child to be gone") { !GatewayProcess.isAlive(child) }
        try await gw.finish()
    }

    /// Issue 9, item 5: a catalog path that blocks on open (a FIFO) hung the gateway before it served anything.
    @Test("a catalog that is a FIFO is refused at once: the gateway serves, says why, and stops on SIGTERM")
    func fifoCatalog() async throws {
        let dir = try TemporaryDirectory("fifo")
        defer { dir.remove() }
        let fifo = dir.file("catalog.yaml")
        #expect(mkfifo(fifo, 0o600) == 0)
        let log = dir.file("gateway.log")
        let socket = dir.file("c.sock")
        let gateway = Process()
        gateway.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
        gateway.arguments = ["gateway", "--config", fifo, "--control-socket", socket, "--no-listen"]
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        gateway.standardError = handle
        gateway.standardOutput = handle
        try gateway.run()
        defer { if gateway.isRunning { gateway.terminate() } }
        try await eventually("the gateway to answer, not ready") {
            (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz"))?.status == 503
        }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("not a regular file"), "\(text)")
        gateway.terminate()
        try await eventually("SIGTERM to stop it", timeout: .seconds(10)) { !gateway.isRunning }
    }

    /// Issue 9, item 5: a catalog on a mount that stops answering (a hard NFS mount whose server went away)
    /// blocked the watcher, then every MCP call, and SIGTERM did not stop the gateway. Here the mount is a real
    /// FUSE file system whose every operation blocks in the kernel while a gate file exists.
    @Test("a catalog on a mount that stops answering: MCP serves, a reload fails in bounded time, SIGTERM stops")
    func hungMount() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("hungmount")
        defer { dir.remove() }
        let backing = dir.file("backing")
        let mount = dir.file("mnt")
        let gate = dir.file("gate")
        try FileManager.default.createDirectory(atPath: backing, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        try "version: 1\nservers:\n\(GatewayProcess.demo("a", marker: m))".write(
            toFile: backing + "/catalog.yaml", atomically: true, encoding: .utf8)
        let fs = Process()
        fs.executableURL = URL(fileURLWithPath: TestPaths.python)
        fs.arguments = [
            TestPaths.packageRoot.appendingPathComponent("scripts/interop/hanging_fs.py").path, backing, mount, gate,
        ]
        fs.standardError = FileHandle.nullDevice
        try fs.run()
        defer {
            unlink(gate)
            _ = try? ProcessRunner.run("/bin/umount", ["-l", mount])
            if fs.isRunning { fs.terminate() }
        }
        try await eventually("the FUSE mount to serve the catalog") {
            FileManager.default.fileExists(atPath: mount + "/catalog.yaml")
        }
        let socket = dir.file("c.sock")
        let log = dir.file("gateway.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let gateway = Process()
        gateway.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
        gateway.arguments = [
            "gateway", "--config", mount + "/catalog.yaml", "--control-socket", socket, "--no-listen",
            "--watch-interval", "100ms", "--shutdown-timeout", "3s",
        ]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        gateway.standardError = handle
        gateway.standardOutput = handle
        try gateway.run()
        defer { if gateway.isRunning { kill(gateway.processIdentifier, SIGKILL) } }
        let endpoint = ControlEndpoint.unix(path: socket)
        try await eventually("the gateway to be ready") {
            (try? ControlClient.request(endpoint, method: "GET", path: "/readyz"))?.status == 200
        }
        let client = try MCPTestClient(endpoint: endpoint)
        #expect(try client.tool("a__whoami").contains("a"))

        // The mount stops answering: stat, open and read now block in the kernel.
        #expect(creat(gate, 0o600) >= 0)
        let logText = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try await eventually("the watcher to report the hung mount", timeout: .seconds(20)) {
            logText().contains("did not answer within")
        }
        // MCP goes on serving from the live generation.
        #expect(try await onThread { try client.tool("a__whoami") }.contains("a"))
        let tools = try await onThread { try client.call("tools/list") }
        #expect(tools["result"]?["tools"]?.arrayValue?.isEmpty == false, "\(tools.text)")
        // A reload that must re-read the file answers with the reason, in bounded time.
        let reload = try await onThread {
            try ControlClient.request(endpoint, method: "POST", path: "/admin/reload", timeoutSeconds: 30)
        }
        #expect(reload.status == 422, "\(reload.status) \(reload.text)")
        #expect(reload.text.contains("hung network mount"), "\(reload.text)")
        #expect(try await onThread { try client.tool("a__whoami") }.contains("a"))

        // SIGTERM: the gateway stops its servers and closes its socket, although a thread of it is still held
        // by the dead mount (a read the server has taken cannot be interrupted, even by SIGKILL).
        gateway.terminate()
        try await eventually("the gateway to log its last line", timeout: .seconds(20)) {
            logText().contains(": stopped\n")
        }
        try await eventually("its server to be stopped") { GatewayProcess.processes(matching: m).isEmpty }
        #expect((try? ControlClient.request(endpoint, method: "GET", path: "/readyz")) == nil)
        // The mount answers again: the held thread returns and the process is gone.
        unlink(gate)
        try await eventually("the gateway process to exit", timeout: .seconds(20)) { !gateway.isRunning }
        #expect(gateway.terminationStatus == 0, "\(logText())")
    }

    /// Issue 9, item 10: a server removed while it was starting ended up `ready` (the start overwrote the state
    /// that `retire()` set while it awaited the handshake).
    @Test("a server removed while it starts ends up draining, never ready, and then stops")
    func retiredWhileStarting() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("retire")
        defer { dir.remove() }
        let gate = dir.file("answer-initialize")
        let text = "version: 1\nservers:\n" + misbehaving("s", marker: m, flags: ["--initialize-gate", gate])
        let catalog = try #require(
            CatalogLoader.load(Array(text.utf8), options: CatalogLoadOptions(environment: .expand([:]))).catalog)
        let tasks = TaskSupervisor()
        async let supervised: Void = tasks.run()
        let backend = Backend(
            definition: catalog.servers[0], environment: ProcessInfo.processInfo.environment,
            launcher: ProcessLauncher(group: MultiThreadedEventLoopGroup.singleton), logger: Logger(label: "test"),
            tasks: tasks,
            stopGrace: .seconds(2))
        let starting = Task { try await backend.ensureStarted() }
        try await eventually("the server to be spawned and waiting in initialize") {
            backend.phase == .starting && !GatewayProcess.processes(matching: m).isEmpty
        }
        backend.retire()
        #expect(backend.phase == .draining)
        #expect(creat(gate, 0o600) >= 0)
        try await starting.value
        #expect(backend.phase == .draining, "a removed server must not come back as ready")
        #expect(!backend.acquire(), "a removed server takes no new calls")
        await backend.drainAndStop(timeout: .seconds(2))
        #expect(backend.phase == .stopped)
        try await eventually("its process to be gone") { GatewayProcess.processes(matching: m).isEmpty }
        await tasks.finish(cancelling: true)
        await supervised
    }

    /// Issue 9, item 6: two gateways started at the same moment on one control socket both kept running.
    @Test("of two gateways started at once on one control socket, one serves and the other exits 2")
    func twoGatewaysOneSocket() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("twogw")
        defer { dir.remove() }
        let config = try dir.write("catalog.yaml", catalog(m, [("a", nil, "")]))
        let socket = dir.file("c.sock")
        var gateways: [Process] = []
        for _ in 0..<2 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
            p.arguments = ["gateway", "--config", config, "--control-socket", socket, "--no-listen", "--no-watch"]
            p.standardError = FileHandle.nullDevice
            gateways.append(p)
        }
        for p in gateways { try p.run() }
        defer { for p in gateways where p.isRunning { p.terminate() } }
        try await eventually("one of them to give up") { gateways.contains { !$0.isRunning } }
        let loser = try #require(gateways.first { !$0.isRunning })
        #expect(loser.terminationStatus == 2)
        let winner = try #require(gateways.first { $0.isRunning })
        // The winner holds the lock before it binds: it answers once its socket is up.
        try await eventually("the winner to answer on the socket") {
            (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/stats"))?.status == 200
        }
        #expect(winner.isRunning)
        winner.terminate()
        try await eventually("the winner to stop") { !winner.isRunning }
    }

    /// Issue 9, item 2: a warm start that hung wedged the reload path; a cold one held its caller.
    @Test("start_timeout bounds every start: a hung warm start rolls back, a hung cold start fails, both killed")
    func startTimeout() async throws {
        let m = marker()
        let defaults = "defaults:\n  start_timeout: 1s\n"
        let gw = try await GatewayProcess(
            catalog: "version: 1\n\(defaults)servers:\n" + misbehaving("h", marker: m), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try client.tool("h__big", ["mb": .double(0.001)])
        let hung = "version: 1\n\(defaults)servers:\n" + misbehaving("h", marker: m, flags: ["--hang-initialize"])
        let started = ContinuousClock.now
        let (status, report) = try await onThread { try gw.reload(hung) }
        #expect(status == 409 && report["server"] == "h", "\(report.text)")
        #expect(report["error"]?.stringValue?.contains("start_timeout") == true, "\(report.text)")
        #expect(ContinuousClock.now - started < .seconds(10))
        // The reload path is free again, and the old server still serves.
        let (again, _) = try await onThread { try gw.reload(hung + "\n") }
        #expect(again == 409)
        #expect(try client.tool("h__big", ["mb": .double(0.001)]).utf8.count == 1048)

        // A cold start that hangs fails its call after start_timeout, and nothing of it is left running.
        let cold =
            "version: 1\n\(defaults)servers:\n" + misbehaving("c", marker: m + "-cold", flags: ["--hang-initialize"])
        #expect(try await onThread { try gw.reload(cold) }.0 == 200)
        let call = try await onThread { try client.call("tools/call", ["name": "c__big", "arguments": [:]]) }
        #expect(call["error"]?["message"]?.stringValue?.contains("start_timeout") == true, "\(call.text)")
        try await eventually("the hung server to be killed") { GatewayProcess.processes(matching: m + "-cold").isEmpty }
        let (_, server) = try gw.json("GET", "/servers/c")
        #expect(server["state"] == "failed" && server["last_error"]?.stringValue?.contains("start_timeout") == true)
        try await gw.finish()
    }

    /// Issue 9, item 1: SIGKILL was never sent after the SIGTERM grace.
    @Test("a server that ignores SIGTERM is killed when removed, and does not hold up the gateway's exit")
    func ignoresSigterm() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + misbehaving("t", marker: m, flags: ["--ignore-term"])
                + "\n" + misbehaving("u", marker: m + "-u", flags: ["--ignore-term"]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try client.tool("t__big", ["mb": .double(0.001)])
        _ = try client.tool("u__big", ["mb": .double(0.001)])
        let removed =
            "version: 1\ndefaults:\n  drain_timeout: 1s\nservers:\n"
            + misbehaving("u", marker: m + "-u", flags: ["--ignore-term"])
        #expect(try await onThread { try gw.reload(removed) }.0 == 200)
        try await eventually("the removed server to be killed", timeout: .seconds(15)) {
            GatewayProcess.processes(matching: m).filter { !$0.contains(m + "-u") }.isEmpty
        }
        let started = ContinuousClock.now
        try await gw.finish()
        #expect(ContinuousClock.now - started < .seconds(25))
        #expect(GatewayProcess.processes(matching: m + "-u").isEmpty)
    }

    /// Issue 9, item 3: with a 30 s call in flight and `--shutdown-timeout 3s` the gateway took 29 s to exit.
    @Test("SIGTERM with a long call in flight: the call gets an error at --shutdown-timeout and the gateway exits")
    func shutdownTimeoutIsHonoured() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]), arguments: ["--shutdown-timeout", "2s"], marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try client.tool("a__whoami")
        let started = ContinuousClock.now
        async let long = onThread {
            try? client.call("tools/call", ["name": "a__sleep", "arguments": ["seconds": 30]])
        }
        try await eventually("the call to be in flight") {
            (try gw.json("GET", "/servers/a").1["in_flight"]?.intValue ?? 0) == 1
        }
        gw.signal(SIGTERM)
        try await eventually("the gateway to exit", timeout: .seconds(25)) { !gw.process.isRunning }
        let answer = try await long
        #expect(ContinuousClock.now - started < .seconds(20), "exit took \(ContinuousClock.now - started)")
        #expect(answer?["result"]?["content"] == nil, "the call did not run to its end: \(answer?.text ?? "no answer")")
        try await eventually("no server left") { gw.leftoverProcesses().isEmpty }
        gw.dir.remove()
    }

    /// Issue 14, item 3: the warm start of a replacement competed on equal terms with the servers answering calls.
    @Test("a server warming beside live traffic runs at a lower priority, and at the gateway's once swapped in")
    func warmStartsYield() async throws {
        let m = marker()
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("warm-gate-\(m)").path
        defer { unlink(gate) }
        let live = "version: 1\nservers:\n" + GatewayProcess.demo("a", marker: m)
        let gw = try await GatewayProcess(catalog: live, marker: m)
        let slow =
            misbehaving("slow", marker: m + "-slow", flags: ["--initialize-gate", gate])
            + "\n    prestart: true\n    start_timeout: 60s\n"
        async let reload = onThread { try gw.reload(live + "\n" + slow) }
        var pid: Int32 = 0
        try await eventually("the new server to be warming") {
            pid = GatewayProcess.processes(matching: m + "-slow").first.flatMap { Int32($0.prefix { $0 != ":" }) } ?? 0
            return pid != 0
        }
        // The gateway runs at the test's priority; it lowers a warming server only where it can put it back.
        let own = try #require(WarmPriority.niceness(of: getpid()))
        let lowered = WarmPriority.available ? min(19, own + WarmPriority.step) : own
        try await eventually("the warming server at nice \(lowered)") { WarmPriority.niceness(of: pid) == lowered }
        #expect(creat(gate, 0o600) >= 0)
        let (status, report) = try await reload
        #expect(status == 200 && report["result"] == "applied", "\(report)")
        #expect(WarmPriority.niceness(of: pid) == own, "swapped in: back at the gateway's priority")
        try await gw.finish()
    }

    /// Issue 9, item 7: a server that never answered `initialize` made every `tools/list` wait request_timeout.
    @Test("tools/list does not wait for a stuck server: the ready ones at once, a late one with list_changed")
    func toolsListIsBounded() async throws {
        let m = marker()
        // The stuck server hangs in initialize until its start_timeout (12 s, which the old code waited out);
        // the slow one answers initialize only once the test opens its gate, after the first list: no timing
        // decides which servers are ready when tools/list is asked.
        let gate = FileManager.default.temporaryDirectory.appendingPathComponent("slow-gate-\(m)").path
        defer { unlink(gate) }
        let text =
            "version: 1\nservers:\n" + GatewayProcess.demo("a", marker: m) + "\n"
            + misbehaving("stuck", marker: m, flags: ["--hang-initialize"]) + "\n    start_timeout: 12s\n"
            + misbehaving("slow", marker: m, flags: ["--initialize-gate", gate]) + "\n    start_timeout: 60s\n"
        let gw = try await GatewayProcess(catalog: text, marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let session = try #require(client.sessionID)
        let events = try await gw.openEventStream(session: session)
        defer { events.close() }
        let started = ContinuousClock.now
        let first = try await onThread { try client.call("tools/list") }
        let elapsed = ContinuousClock.now - started
        let names = (first["result"]?["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(elapsed < .seconds(5), "tools/list took \(elapsed)")
        #expect(names.contains("a__whoami") && !names.contains { $0.hasPrefix("stuck__") }, "\(names)")
        #expect(!names.contains { $0.hasPrefix("slow__") }, "the slow server was not ready yet: \(names)")
        #expect(creat(gate, 0o600) >= 0)
        try await eventually("list_changed when the slow server arrives", timeout: .seconds(30)) {
            events.text.contains("notifications/tools/list_changed")
        }
        let later = try await onThread { try client.call("tools/list") }
        let laterNames = (later["result"]?["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(laterNames.contains("slow__big"), "\(laterNames)")
        try await eventually("the stuck server to show why", timeout: .seconds(30)) {
            (try gw.json("GET", "/servers/stuck").1["last_error"]?.stringValue ?? "").contains("start_timeout")
        }
        events.close()
        try await gw.finish()
    }
}
