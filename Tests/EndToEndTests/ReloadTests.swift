import Foundation
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// A catalog of demo servers with this test's marker.
func catalog(_ marker: String, _ servers: [(id: String, name: String?, extra: String)], defaults: String = "") -> String
{
    "version: 1\n\(defaults)servers:\n"
        + servers.map { GatewayProcess.demo($0.id, name: $0.name, marker: marker, extra: $0.extra) }.joined(
            separator: "\n")
}

func marker() -> String { "t\(UInt32.random(in: 0...UInt32.max))" }

/// Issue 13, item 8: the image ships `mcp-demo-server` as a link to `hotswap` (one static Foundation, not two).
@Test("hotswap called through a link named mcp-demo-server is the demo server, behind a real gateway")
func demoServerByName() async throws {
    let m = marker()
    let dir = try TemporaryDirectory("hotswap-link")
    let link = dir.file("mcp-demo-server")
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TestPaths.product("hotswap"))
    let text = """
        version: 1
        servers:
          - id: linked
            runtime:
              type: local-process
              command: \(link)
              args: ["--name", "linked-\(m)"]
        """
    let gw = try await GatewayProcess(catalog: text, marker: m)
    let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
    #expect(try client.tool("linked__echo", ["text": "one binary"]) == "one binary")
    try await gw.finish()
    dir.remove()
}

@Suite("Gateway reloads (real processes)", .serialized)
struct ReloadTests {
    @Test("in-flight calls on a removed and on a modified server complete; new calls reach the new generation")
    func inFlightSurvivesSwap() async throws {
        let m = marker()
        let before = catalog(m, [("keep", nil, ""), ("gone", nil, ""), ("edit", nil, "")])
        let gw = try await GatewayProcess(catalog: before, marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let oldEditPID = try client.tool("edit__whoami").split(separator: " ").last.map(String.init)
        _ = try client.tool("gone__whoami")

        async let removedCall = onThread { try client.tool("gone__sleep", ["seconds": 3]) }
        async let modifiedCall = onThread { try client.tool("edit__sleep", ["seconds": 3]) }
        try await eventually("both sleeps to be in flight") {
            let (_, s) = try gw.json("GET", "/servers")
            let inflight = (s["servers"]?.arrayValue ?? []).reduce(0) { $0 + ($1["in_flight"]?.intValue ?? 0) }
            return inflight == 2
        }
        let after = catalog(m, [("keep", nil, ""), ("edit", "edited", "")])
        let (status, report) = try gw.reload(after)
        #expect(status == 200, "\(report.text)")
        #expect(report["result"] == "applied")
        #expect(report["removed"] == ["gone"])
        #expect(report["modified"] == ["edit"])
        #expect(report["unchanged"] == ["keep"])
        #expect(report["generation"] == 2)
        #expect(report["servers_loaded"] == 2)
        #expect(report["config_sha256"]?.stringValue == ContentHash.sha256(Array(after.utf8)))
        #expect(report["duration_ms"]?.doubleValue != nil)
        #expect(report["changed_fields"]?["edit"] == ["runtime.args"])

        // New calls reach the new generation at once, while the old calls are still running.
        #expect(try client.tool("edit__whoami").hasPrefix("edited-\(m)"))
        let gone = try client.call("tools/call", ["name": "gone__whoami", "arguments": [:]])
        #expect(gone["error"]?["message"]?.stringValue?.contains("server 'gone' is not in the live catalog") == true)

        let (removed, modified) = try await (removedCall, modifiedCall)
        #expect(removed.hasPrefix("slept 3.0s in gone-\(m)"))
        #expect(modified.hasPrefix("slept 3.0s in edit-\(m) pid \(oldEditPID ?? "?")"))
        try await eventually("the old processes to stop after draining") {
            GatewayProcess.processes(matching: "gone-\(m)").isEmpty
                && GatewayProcess.processes(matching: "edit-\(m)").isEmpty
        }
        try await gw.finish()
    }

    @Test("an unchanged server keeps its pid across 20 reloads while a client calls it: 0 failures")
    func unchangedKeepsPID() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("steady", nil, ""), ("churn", nil, "")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let pid = try client.tool("steady__whoami")
        let failures = Counter()
        let calls = Counter()
        let stop = Flag()
        let caller = Task {
            try await onThread {
                while !stop.isSet {
                    do {
                        let answer = try client.tool("steady__whoami")
                        if answer != pid { failures.add() }
                    } catch {
                        failures.add()
                    }
                    calls.add()
                }
            }
        }
        _ = try client.tool("churn__whoami")
        for i in 1...20 {
            // Interleave: at least one call between reloads.
            let seen = calls.value
            try await eventually("a call between reloads") { calls.value > seen }
            let (status, report) = try gw.reload(catalog(m, [("steady", nil, ""), ("churn", "churn\(i)", "")]))
            #expect(status == 200 && report["result"] == "applied", "\(report.text)")
            #expect(report["unchanged"] == ["steady"])
        }
        stop.set()
        try await caller.value
        #expect(failures.value == 0)
        #expect(calls.value >= 20)
        #expect(try client.tool("steady__whoami") == pid)
        let (_, stats) = try gw.json("GET", "/stats")
        #expect(stats["generation"]?.intValue == 21)
        try await gw.finish()
    }

    @Test("a modified running server's new process answers before the old one stops")
    func warmBeforeStop() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("w", nil, "    drain_timeout: 30s")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try client.tool("w__whoami")
        let oldPID = try #require(try gw.pid("w"))
        // Hold the old process with a call, so it is still running after the swap.
        let held = Task { try await onThread { try client.tool("w__sleep", ["seconds": 2]) } }
        try await eventually("the call to be in flight") { try gw.json("GET", "/servers/w").1["in_flight"] == 1 }
        let (status, _) = try gw.reload(catalog(m, [("w", "w2", "    drain_timeout: 30s")]))
        #expect(status == 200)
        let newPID = try #require(try gw.pid("w"))
        #expect(newPID != oldPID)
        #expect(try client.tool("w__whoami") == "w2-\(m) \(newPID)")
        #expect(GatewayProcess.isAlive(oldPID), "the old process is still draining")
        _ = try await held.value
        try await eventually("the old process to stop once drained") { !GatewayProcess.isAlive(oldPID) }
        try await gw.finish()
    }

    @Test("a warm start that fails rolls back with 409 and the old generation keeps serving")
    func rollback() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("a", nil, ""), ("b", nil, "")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let aPID = try client.tool("a__whoami")
        _ = try client.tool("b__whoami")
        let broken =
            "version: 1\nservers:\n" + GatewayProcess.demo("a", name: "a2", marker: m)
            + "\n  - id: b\n    runtime: {type: local-process, command: /nonexistent/mcp-server-\(m)}\n"
        let (status, report) = try gw.reload(broken)
        #expect(status == 409, "\(report.text)")
        #expect(report["result"] == "rolled_back")
        #expect(report["server"] == "b")
        #expect(report["error"]?.stringValue?.contains("command not found") == true)
        #expect(report["generation"]?.intValue == 1)
        #expect(try client.tool("a__whoami") == aPID, "a keeps its old process: the new one was stopped")
        #expect(try client.tool("b__whoami").hasPrefix("b-\(m)"))
        try await eventually("the warmed a2 to be stopped") { GatewayProcess.processes(matching: "a2-\(m)").isEmpty }
        // prestart servers are part of the all-or-nothing too.
        let prestart =
            catalog(m, [("a", nil, ""), ("b", nil, "")])
            + "\n  - id: c\n    prestart: true\n    runtime: {type: local-process, command: no-such-command-\(m)}\n"
        let (status2, report2) = try gw.reload(prestart)
        #expect(status2 == 409 && report2["server"] == "c", "\(report2.text)")
        try await gw.finish()
    }

    @Test(
        "invalid catalog: 422 with line and column, nothing changes; empty body re-reads --config; live hash is unchanged"
    )
    func rejectedAndUnchanged() async throws {
        let m = marker()
        let text = catalog(m, [("a", nil, "")])
        let gw = try await GatewayProcess(catalog: text, marker: m)
        let (status, report) = try gw.reload(
            "version: 1\nservers:\n  - id: a\n    runtime:\n      type: local-process\n      comand: x\n")
        #expect(status == 422)
        #expect(report["result"] == "rejected")
        let error = try #require(report["errors"]?.arrayValue?.first { $0["path"] == "servers[0].runtime.comand" })
        #expect(error["path"] == "servers[0].runtime.comand")
        #expect(error["line"] == 6)
        #expect(error["column"] == 7)
        #expect(report["generation"] == 1)
        let empty = try gw.reload("")
        #expect(empty.1["result"] == "unchanged")
        let same = try gw.reload(text)
        #expect(same.0 == 200 && same.1["result"] == "unchanged")
        #expect(same.1["generation"] == 1)

        // An empty body applies what is on disk now.
        try Data(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: gw.configPath))
        let reread = try gw.reload("")
        #expect(reread.1["result"] == "applied", "\(reread.1.text)")
        #expect(reread.1["added"] == ["b"])
        let (_, stats) = try gw.json("GET", "/stats")
        #expect(stats["generation"] == 2)
        #expect(stats["reloads"]?["rejected"] == 1)
        try await gw.finish()
    }

    @Test("a call longer than drain_timeout is cut and its server stopped")
    func drainTimeout() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("slow", nil, "    drain_timeout: 1s\n    request_timeout: 60s")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let pid = try #require(
            try {
                _ = try client.tool("slow__whoami"); return try gw.pid("slow")
            }())
        let call = Task {
            try await onThread { try client.call("tools/call", ["name": "slow__sleep", "arguments": ["seconds": 30]]) }
        }
        try await eventually("the long call to be in flight") {
            try gw.json("GET", "/servers/slow").1["in_flight"] == 1
        }
        let started = ContinuousClock.now
        let (status, _) = try gw.reload("version: 1\nservers: []\n")
        #expect(status == 200)
        let response = try await call.value
        #expect(ContinuousClock.now - started < .seconds(20), "the call was cut, not waited out")
        #expect(response["error"] != nil, "\(response.text)")
        try await eventually("the server to be stopped") { !GatewayProcess.isAlive(pid) }
        #expect(gw.log.contains("drain timeout"))
        try await gw.finish()
    }

    @Test("a burst of 50 SIGHUPs causes at most 2 reloads")
    func sighupBurst() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("a", nil, "")]), arguments: ["--no-watch"], marker: m)
        try Data(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: gw.configPath))
        for _ in 0..<50 { gw.signal(SIGHUP) }
        try await eventually("the SIGHUP reload to apply") { try gw.json("GET", "/stats").1["generation"] == 2 }
        // Let any follow-up finish, then count.
        try await eventually("the reload queue to drain") {
            let s = try gw.json("GET", "/stats").1
            return s["last_reload"]?["source"] == "sighup"
        }
        let stats = try gw.json("GET", "/stats").1
        let sighupReloads = (stats["reloads"]?.objectValue ?? [:]).values.compactMap(\.intValue).reduce(0, +) - 1
        #expect(sighupReloads >= 1 && sighupReloads <= 2, "\(stats.text)")
        let metrics = try gw.request("GET", "/metrics").text
        #expect(metrics.contains("hotswap_gateway_reloads_coalesced_total"))
        try await gw.finish()
    }

    /// Issue 14, item 5: the settle cost its full length even when the writer was plainly done.
    @Test("a writer seen done (closed after writing, renamed in, a ConfigMap swap) skips the rest of the settle")
    func writerDoneSkipsSettle() async throws {
        let m = marker()
        // A settle longer than the wait below: an edit applied in time can only have come through the hint.
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]), arguments: ["--watch-interval", "30s", "--settle", "60s"], marker: m)
        // The watcher's first poll comes after its inotify watch is in place: an edit before that has no hint.
        func watching(_ gateway: GatewayProcess) async throws {
            try await eventually("the watcher's first poll") {
                let metrics = String(decoding: try gateway.request("GET", "/metrics").body, as: UTF8.self)
                let line = metrics.split(separator: "\n").first { $0.hasPrefix("hotswap_watch_polls_total ") }
                return (line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= 1
            }
        }
        try await watching(gw)
        func applied(_ generation: Int64) async throws {
            try await eventually("generation \(generation) applied before the 60 s settle", timeout: .seconds(15)) {
                try gw.json("GET", "/stats").1["generation"]?.intValue == generation
            }
        }
        try Data(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: gw.configPath))
        try await applied(2)
        let tmp = gw.dir.file(".catalog.yaml.tmp")
        try Data(catalog(m, [("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: tmp))
        #expect(rename(tmp, gw.configPath) == 0)
        try await applied(3)
        try await gw.finish()

        let dir = try TemporaryDirectory("writer-done")
        defer { dir.remove() }
        var configMap = try KubeletConfigMap(directory: dir.url.appendingPathComponent("cm"))
        try configMap.publish(["catalog.yaml": catalog(m, [("a", nil, "")])])
        let pod = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: [
                "--config", configMap.directory.path, "--file", "catalog.yaml", "--watch-interval", "30s", "--settle",
                "60s",
            ], marker: m)
        try await watching(pod)
        try configMap.publish(["catalog.yaml": catalog(m, [("a", nil, ""), ("c", nil, "")])])
        try await eventually("the ConfigMap swap applied before the 60 s settle", timeout: .seconds(15)) {
            try pod.json("GET", "/stats").1["generation"]?.intValue == 2
        }
        try await pod.finish()
    }

    @Test("the in-process watcher applies an edit made by rename-save")
    func watcher() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]), arguments: ["--watch-interval", "100ms", "--settle", "50ms"],
            marker: m)
        let tmp = gw.dir.file(".catalog.yaml.swp")
        try Data(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: tmp))
        #expect(rename(tmp, gw.configPath) == 0)
        try await eventually("the watcher to apply the new catalog") {
            let s = try gw.json("GET", "/stats").1
            return s["generation"] == 2 && s["last_reload"]?["source"] == "watch"
        }
        // An invalid save is refused and the generation stays.
        try Data("version: 1\nservers:\n  - id: [\n".utf8).write(to: URL(fileURLWithPath: gw.configPath))
        try await eventually("the watcher to reject the broken file") {
            try gw.json("GET", "/stats").1["reloads"]?["rejected"] == 1
        }
        #expect(try gw.json("GET", "/stats").1["generation"] == 2)
        try await gw.finish()
    }
}

/// A thread-safe counter for test loops.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var on = false
    func set() { lock.withLock { on = true } }
    var isSet: Bool { lock.withLock { on } }
}
