import Foundation
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

func sidecarCatalog(_ marker: String, _ ids: [String], variant: String = "") -> String {
    "version: 1\nservers:\n"
        + ids.map { GatewayProcess.demo($0, name: "\($0)\(variant)", marker: marker) }.joined(separator: "\n")
}

/// A gateway (no watcher of its own) and a sidecar watching `watch`, for one test.
struct Pair {
    let gw: GatewayProcess
    let sidecar: SidecarProcess

    static func start(
        marker m: String, initial: String, watch: (GatewayProcess) throws -> String,
        sidecarArgs: [String] = [], gatewayArgs: [String] = [], settle: String = "200ms"
    ) async throws -> Pair {
        let gw = try await GatewayProcess(catalog: initial, arguments: ["--no-watch"] + gatewayArgs, marker: m)
        let path = try watch(gw)
        let sidecar = try await SidecarProcess(
            ["--watch", path, "--socket", gw.socket, "--interval", "100ms", "--settle", settle] + sidecarArgs,
            logPath: gw.dir.file("sidecar.log"))
        return Pair(gw: gw, sidecar: sidecar)
    }

    func generation() throws -> Int64 { try gw.json("GET", "/stats").1["generation"]?.intValue ?? -1 }
    func liveHash() throws -> String { try gw.json("GET", "/stats").1["config_sha256"]?.stringValue ?? "" }

    func finish() async throws {
        try await sidecar.stop()
        try await gw.finish()
    }
}

@Suite("Sidecar with a real gateway", .serialized)
struct SidecarTests {
    @Test("ConfigMap updates by the kubelet's algorithm: each applied, confirmed and counted")
    func configMap() async throws {
        let m = marker()
        let initial = sidecarCatalog(m, ["a"])
        var cm: KubeletConfigMap?
        let pair = try await Pair.start(marker: m, initial: initial) { gw in
            var c = try KubeletConfigMap(directory: gw.dir.url.appendingPathComponent("cm"))
            try c.publish(["catalog.yaml": initial, "README": "other key"])
            cm = c
            return gw.dir.file("cm")
        }
        try await eventually("the initial content to be confirmed") {
            try await pair.sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }
        #expect(try pair.generation() == 1, "the first push was `unchanged`: same content")
        for i in 1...3 {
            let next = sidecarCatalog(m, ["a", "b\(i)"])
            try cm!.publish(["catalog.yaml": next, "README": "other key"])
            try await eventually("update \(i) to be applied") {
                try pair.liveHash() == ContentHash.sha256(Array(next.utf8))
            }
            try await eventually("update \(i) to be counted") {
                try await pair.sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == Double(1 + i)
            }
        }
        #expect(try pair.generation() == 4)
        let metrics = try await pair.sidecar.metrics()
        #expect(metrics["hotswap_sidecar_validations_total"] == 4)
        #expect(metrics["hotswap_sidecar_detect_to_apply_seconds_count"] == 4)
        #expect(metrics["hotswap_sidecar_applied_config_info{sha256=\"\(try pair.liveHash())\"}"] == 1)
        try await pair.finish()
    }

    @Test(
        "rename-save, in-place rewrite and a slow chunked write: half-written content is never validated",
        arguments: [false, true])
    func edits(inotify: Bool) async throws {
        let m = marker()
        let initial = sidecarCatalog(m, ["a"])
        // Polling alone (as on a Docker Desktop share or NFS), and polling with inotify hints. The settle time
        // is two seconds here: the slow write below finishes its file only after the sidecar has seen the
        // half-written one, and must do so within the settle time even on a busy CI machine.
        let pair = try await Pair.start(
            marker: m, initial: initial, watch: { gw in gw.configPath }, sidecarArgs: inotify ? [] : ["--no-inotify"],
            settle: "2s")
        try await eventually("start") { try await pair.sidecar.metric("hotswap_sidecar_validations_total") == 1 }

        // Rename-save, as vim and most editors do.
        let v2 = sidecarCatalog(m, ["a", "b"])
        let tmp = pair.gw.dir.file(".catalog.yaml.swp")
        try Data(v2.utf8).write(to: URL(fileURLWithPath: tmp))
        #expect(rename(tmp, pair.gw.configPath) == 0)
        try await eventually("rename-save applied") { try pair.liveHash() == ContentHash.sha256(Array(v2.utf8)) }

        // In-place rewrite (truncate and write), as `cat > file` does.
        let v3 = sidecarCatalog(m, ["a", "c"])
        try Data(v3.utf8).write(to: URL(fileURLWithPath: pair.gw.configPath), options: [])
        try await eventually("in-place rewrite applied") { try pair.liveHash() == ContentHash.sha256(Array(v3.utf8)) }
        let before = try await pair.sidecar.metric("hotswap_sidecar_validations_total")
        #expect(before == 3)

        // A slow in-place write: the first half, then, once the sidecar has seen that half-written file (its
        // change counter moves), the rest. The half must never be validated: it has not settled.
        let v4 = Array(sidecarCatalog(m, ["a", "c", "d", "e"]).utf8)
        let half = v4.count / 2
        let changesBefore = try await pair.sidecar.metric("hotswap_sidecar_changes_detected_total")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: pair.gw.configPath))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(v4[..<half]))
        try await eventually("the sidecar to see the half-written file") {
            try await pair.sidecar.metric("hotswap_sidecar_changes_detected_total") > changesBefore
        }
        try handle.write(contentsOf: Data(v4[half...]))
        try handle.close()
        try await eventually("the slow write applied") { try pair.liveHash() == ContentHash.sha256(v4) }
        let metrics = try await pair.sidecar.metrics()
        #expect(metrics["hotswap_sidecar_validations_total"] == before + 1, "only the finished file was validated")
        #expect(metrics["hotswap_sidecar_validation_failures_total"] ?? 0 == 0)
        #expect(try pair.gw.json("GET", "/stats").1["reloads"]?["rejected"] == nil)
        try await pair.finish()
    }

    @Test("an invalid edit is logged with line and column and never signalled; a refused hash is not re-sent")
    func invalidAndRefused() async throws {
        let m = marker()
        let initial = sidecarCatalog(m, ["a"])
        let pair = try await Pair.start(
            marker: m, initial: initial, watch: { gw in gw.configPath }, sidecarArgs: ["--reconcile-interval", "300ms"])
        try await eventually("start") {
            try await pair.sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }
        try Data("version: 1\nservers:\n  - id: a\n    runtime: {type: local-process}\n".utf8)
            .write(to: URL(fileURLWithPath: pair.gw.configPath))
        try await eventually("the validation failure") {
            try await pair.sidecar.metric("hotswap_sidecar_validation_failures_total") == 1
        }
        #expect(pair.sidecar.log.contains("catalog.yaml:4:14: error: servers[0].runtime.command: missing"))
        let stats = try pair.gw.json("GET", "/stats").1
        #expect(stats["generation"] == 1)
        #expect(
            (stats["reloads"]?.objectValue ?? [:]).keys.sorted() == ["applied", "unchanged"],
            "never signalled: \(stats.text)")

        // Valid for the sidecar (which checks ${VAR} syntax only), refused by the gateway (VAR is unset there).
        let refused =
            sidecarCatalog(m, ["a"])
            + "\n  - id: v\n    runtime: {type: local-process, command: \"${HOTSWAP_UNSET_\(m)}\"}\n"
        try Data(refused.utf8).write(to: URL(fileURLWithPath: pair.gw.configPath))
        try await eventually("the gateway's refusal") {
            try pair.gw.json("GET", "/stats").1["reloads"]?["rejected"] == 1
        }
        // Several reconcile intervals later it was still sent only once.
        try await eventually("a few reconciles", timeout: .seconds(10)) {
            try await pair.sidecar.metric("hotswap_sidecar_polls_total") > 40
        }
        #expect(try pair.gw.json("GET", "/stats").1["reloads"]?["rejected"] == 1)
        #expect(try await pair.sidecar.metric("hotswap_sidecar_reloads_total{result=\"rejected\"}") == 1)

        // Fixing the file applies it.
        let fixed = sidecarCatalog(m, ["a", "b"])
        try Data(fixed.utf8).write(to: URL(fileURLWithPath: pair.gw.configPath))
        try await eventually("the fix") { try pair.liveHash() == ContentHash.sha256(Array(fixed.utf8)) }
        try await pair.finish()
    }

    @Test(
        "the gateway is down when the change happens and comes back; a gateway restarted with stale content is reconciled"
    )
    func convergence() async throws {
        let m = marker()
        let initial = sidecarCatalog(m, ["a"])
        let gw = try await GatewayProcess(catalog: initial, arguments: ["--no-watch"], marker: m)
        let watched = try gw.dir.write("watched.yaml", initial)
        let sidecar = try await SidecarProcess(
            ["--watch", watched, "--socket", gw.socket, "--interval", "100ms", "--reconcile-interval", "500ms"],
            logPath: gw.dir.file("sidecar.log"))
        try await eventually("start") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }
        try await gw.stop()
        let next = sidecarCatalog(m, ["a", "b"])
        try Data(next.utf8).write(to: URL(fileURLWithPath: watched))
        try await eventually("a transport error while the gateway is down") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"error\"}") >= 1
        }
        #expect(sidecar.log.contains("cannot reach the gateway; retrying with backoff"))
        let errorLines = sidecar.log.components(separatedBy: "cannot reach the gateway").count - 1
        // The gateway comes back with its old file (stale content): retry and reconcile converge it.
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: gw.logPath))
        /// The same gateway started again, as a restarted container starts it.
        func restart() throws -> Process {
            let again = Process()
            again.executableURL = gw.process.executableURL
            again.arguments = gw.process.arguments
            again.standardError = log
            again.standardOutput = log
            try again.run()
            return again
        }
        let restarted = try restart()
        try await eventually("convergence") {
            (try? gw.json("GET", "/stats").1["config_sha256"]?.stringValue) == ContentHash.sha256(Array(next.utf8))
        }
        #expect(errorLines <= 2, "a steady failure is logged once, not per poll")
        // Restart again with stale content and no edit: reconcile pushes.
        restarted.terminate()
        restarted.waitUntilExit()
        let again = try restart()
        try await eventually("reconcile after a stale restart") {
            (try? gw.json("GET", "/stats").1["config_sha256"]?.stringValue) == ContentHash.sha256(Array(next.utf8))
        }
        #expect(sidecar.log.contains("reconcile: the gateway serves other content"))
        // Issue 13, item 8: a gateway that restarts serving no catalog at all (its own file broken at start,
        // `config_sha256: null`) is reconciled too.
        again.terminate()
        again.waitUntilExit()
        try Data("servers: [unclosed\n".utf8).write(to: URL(fileURLWithPath: gw.configPath))
        let empty = try restart()
        try await eventually("reconcile of a gateway with no catalog") {
            (try? gw.json("GET", "/stats").1["config_sha256"]?.stringValue) == ContentHash.sha256(Array(next.utf8))
        }
        #expect(sidecar.log.contains("reconcile: the gateway serves no catalog"))
        try await sidecar.stop()
        empty.terminate()
        empty.waitUntilExit()
        try await eventually("no demo server left") { gw.leftoverProcesses().isEmpty }
        gw.dir.remove()
    }

    /// Issue 9, item 11: a push that waited for a slow warm start blocked the poll loop, so `/healthz` failed
    /// (a liveness probe would have restarted a healthy sidecar).
    @Test("the sidecar stays healthy while a push waits for a slow warm start")
    func healthyDuringSlowPush() async throws {
        let m = marker()
        func slow(_ variant: Int) -> String {
            """
            version: 1
            servers:
              - id: slow
                runtime:
                  type: local-process
                  command: /bin/sh
                  args: ["-c", "sleep 3; exec \(GatewayProcess.demoServer) --name slow-\(m)-\(variant)"]
            """
        }
        let pair = try await Pair.start(marker: m, initial: slow(0), watch: { gw in gw.configPath })
        try await eventually("start") { try await pair.sidecar.metric("hotswap_sidecar_validations_total") == 1 }
        let client = try MCPTestClient(endpoint: .unix(path: pair.gw.socket))
        _ = try await onThread { try client.tool("slow__whoami") }
        let port = try await pair.sidecar.port()
        try Data(slow(1).utf8).write(to: URL(fileURLWithPath: pair.gw.configPath), options: .atomic)
        // The warm start of the modified server takes 3 s; health is asked throughout, until it is applied.
        var statuses: [Int] = []
        let started = ContinuousClock.now
        try await eventually("the slow edit to be applied") {
            let reply = try await onThread {
                try ControlClient.request(.tcp(host: "127.0.0.1", port: port), method: "GET", path: "/healthz")
            }
            statuses.append(reply.status)
            return try pair.liveHash() == ContentHash.sha256(Array(slow(1).utf8))
        }
        #expect(ContinuousClock.now - started >= .seconds(3), "the push waited for the 3 s warm start")
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        try await pair.finish()
    }
}
