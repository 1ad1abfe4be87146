import Foundation
import HotswapTestSupport
import Testing

/// Issue 11, part 3: `hotswap sidecar` as the reload controller of other gateways, the real packages from PyPI.
/// Their own watchers miss what the kubelet does to a ConfigMap volume (a `..data` symlink swap); here each
/// peer's watcher is off, the catalog is a ConfigMap updated by the kubelet's algorithm, and the sidecar
/// validates with the peer's own rules, signals it (mcp-hangar: its reload API, or SIGHUP inside a shared PID
/// namespace; magg: SIGHUP), confirms, and a client sees the new server through the peer.
@Suite("The sidecar in front of mcp-hangar and magg (real gateways from PyPI)", .serialized)
struct PeerGatewayTests {
    static let python = TestPaths.python
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/peer_client.py").path
    static let peers = TestPaths.packageRoot.appendingPathComponent("scripts/peers").path

    /// An mcp-hangar config serving the reference time server under each id, its own watcher off.
    static func hangarConfig(_ ids: [String], extra: String = "") -> String {
        var yaml = "mcp_servers:\n"
        for id in ids {
            yaml += "  \(id):\n    mode: subprocess\n    command: [\(python), -m, mcp_server_time]\n"
        }
        return yaml + "config_reload:\n  enabled: false\nevent_store:\n  driver: memory\n" + extra
    }

    /// A magg config serving the reference time server under each id (tools prefixed with the id, but `time`'s),
    /// its watcher off without `auto_reload: false` (which breaks removals on SIGHUP in magg 1.3).
    static func maggConfig(_ ids: [String], broken: Bool = false) -> String {
        let time = TestPaths.packageRoot.appendingPathComponent(".venv/bin/mcp-server-time").path
        let servers = ids.map { id in
            let prefix = id == "time" ? "" : ", \"prefix\": \"\(id)\""
            let source = broken ? "" : "\"source\": \"pypi:mcp-server-time\", "
            return "\"\(id)\": {\(source)\"command\": \"\(time)\"\(prefix)}"
        }
        return """
            {"reload_use_watchdog": false, "reload_poll_interval": 1e9,
             "servers": {\(servers.joined(separator: ", "))}}
            """
    }

    /// A tools/call through mcp-hangar (its upstream tools sit behind `hangar_call`): true when it succeeded.
    static func hangarCall(_ url: String, server: String) async throws -> Bool {
        let calls =
            "{\"calls\":[{\"mcp_server\":\"\(server)\",\"tool\":\"get_current_time\",\"arguments\":{\"timezone\":\"Etc/UTC\"}}]}"
        let out = try await onThread { try ProcessRunner.run(python, [client, url, "call", "hangar_call", calls]) }
        return out.status == 0 && out.stdout.contains("\"succeeded\": 1")
    }

    static func tools(_ url: String) async throws -> [String] {
        let out = try await onThread { try ProcessRunner.run(python, [client, url, "list"]) }
        return out.status == 0 ? out.stdout.split(separator: "\n").map(String.init) : []
    }

    static func hangar(_ config: String, in dir: TemporaryDirectory) async throws -> PeerGatewayProcess {
        try await PeerGatewayProcess(
            PeerGatewayProcess.hangar,
            ["--config", config, "serve", "--http", "--host", "127.0.0.1", "--port", "{port}"],
            environment: ["NO_COLOR": "1"], name: "hangar", directory: dir)
    }

    @Test(
        "mcp-hangar: a ConfigMap update reaches it through its reload API; an invalid one is refused by its own check")
    func hangarOverHTTP() async throws {
        let dir = try TemporaryDirectory("peer-hangar")
        defer { dir.remove() }
        var configMap = try KubeletConfigMap(directory: dir.url.appendingPathComponent("cm"))
        try configMap.publish(["config.yaml": Self.hangarConfig(["time"])])
        let hangar = try await Self.hangar(dir.file("cm/config.yaml"), in: dir)
        let base = "http://127.0.0.1:\(hangar.port)"
        let sidecar = try await SidecarProcess(
            [
                "--watch", dir.file("cm"), "--file", "config.yaml", "--interval", "100ms",
                // mcp-hangar's own check is a Python start (about 2 s here, much more while the suite runs).
                "--validate-command", "\(PeerGatewayProcess.hangar) config check {}", "--validate-timeout", "120s",
                "--signal", "http", "--url", "\(base)/api/config/reload", "--reply-confirms",
            ], logPath: dir.file("sidecar.log"))
        #expect(sidecar.log.contains("taken as the one the gateway loaded"), "not signalled again at start")
        #expect(try await Self.hangarCall(hangar.url, server: "time"))
        #expect(!(try await Self.hangarCall(hangar.url, server: "clock")), "no server 'clock' yet")

        try configMap.publish(["config.yaml": Self.hangarConfig(["time", "clock"])])
        try await eventually("the sidecar to apply the update", timeout: .seconds(120)) {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
                || sidecar.log.contains("error")
        }
        #expect(!sidecar.log.contains("error"), "\(sidecar.log)")
        try await eventually("a client to call the new server through mcp-hangar", timeout: .seconds(60)) {
            try await Self.hangarCall(hangar.url, server: "clock")
        }
        try await eventually("the sidecar to count the applied reload") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }

        // A key mcp-hangar does not know: it would apply the rest with a warning; its own check refuses it.
        try configMap.publish(["config.yaml": Self.hangarConfig(["time"], extra: "bogus_section: {}\n")])
        try await eventually("the sidecar to refuse the content (log: \(sidecar.logPath))", timeout: .seconds(120)) {
            try await sidecar.metric("hotswap_sidecar_validation_failures_total") == 1
        }
        #expect(sidecar.log.contains("not signalled") && sidecar.log.contains("bogus_section"), "\(sidecar.log)")
        #expect(try await Self.hangarCall(hangar.url, server: "clock"), "the last good config keeps serving")
        try await sidecar.stop()
        try await hangar.stop()
    }

    /// In a pod with `shareProcessNamespace` (compose: `pid: service:gateway`) the sidecar finds the gateway by
    /// name. A new PID namespace holds both here, so `--process-name` can only find this test's mcp-hangar.
    @Test("mcp-hangar: SIGHUP in a shared PID namespace, confirmed by its config API's answer changing")
    func hangarOverSIGHUP() async throws {
        let dir = try TemporaryDirectory("peer-hangar-hup")
        defer { dir.remove() }
        var configMap = try KubeletConfigMap(directory: dir.url.appendingPathComponent("cm"))
        try configMap.publish(["config.yaml": Self.hangarConfig(["time"])])
        let port = try PeerGatewayProcess.freePort()
        let base = "http://127.0.0.1:\(port)"
        let sidecarLog = dir.file("sidecar.log")
        let hangarLog = dir.file("hangar.log")
        let sidecarArguments = [
            "sidecar", "--listen", "127.0.0.1:0", "--watch", dir.file("cm"), "--file", "config.yaml",
            "--interval", "100ms", "--format", "yaml", "--signal", "sighup", "--process-name", "mcp-hangar",
            "--confirm-url", "\(base)/api/config/diff", "--confirm-timeout", "5s",
        ]
        let script = """
            cd '\(dir.path)' && NO_COLOR=1 '\(PeerGatewayProcess.hangar)' --config '\(dir.file("cm/config.yaml"))' \
            serve --http --host 127.0.0.1 --port \(port) > '\(hangarLog)' 2>&1 &
            exec '\(TestPaths.product("hotswap"))' \(sidecarArguments.map { "'\($0)'" }.joined(separator: " ")) \
            > '\(sidecarLog)' 2>&1
            """
        let pod = Process()
        pod.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        pod.arguments =
            ["--pid", "--fork", "--kill-child", "--mount-proc", TestPaths.python] + PeerGatewayProcess.unblockingSignals
            + ["/bin/sh", "-c", script]
        try pod.run()
        // The sidecar is the namespace's first process: when unshare is killed, so is it (--kill-child), and with
        // it the kernel ends everything else in the namespace.
        defer { if pod.isRunning { kill(pod.processIdentifier, SIGKILL) } }
        func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        try await eventually("mcp-hangar to serve in the namespace (log: \(hangarLog))", timeout: .seconds(60)) {
            try await Self.hangarCall("\(base)/mcp", server: "time")
        }

        try configMap.publish(["config.yaml": Self.hangarConfig(["time", "clock"])])
        try await eventually("a client to call the new server through mcp-hangar", timeout: .seconds(60)) {
            try await Self.hangarCall("\(base)/mcp", server: "clock")
        }
        try await eventually("the sidecar to confirm it (log: \(sidecarLog))", timeout: .seconds(30)) {
            log(sidecarLog).contains("confirmed_by=\"a new answer from GET")
        }
        #expect(log(hangarLog).contains("reload_signal_received"), "reloaded by SIGHUP: \(log(hangarLog))")
        kill(pod.processIdentifier, SIGKILL)
        try await eventually("the pod to stop") { !pod.isRunning }
        try await eventually("everything in the namespace to end") {
            (try? ProcessRunner.run("/usr/bin/pgrep", ["-f", "port \(port)"]))?.status == 1
        }
    }

    @Test("magg: ConfigMap updates by SIGHUP, confirmed over MCP; a server entry magg would drop is refused")
    func magg() async throws {
        let dir = try TemporaryDirectory("peer-magg")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("home"), withIntermediateDirectories: true)
        var configMap = try KubeletConfigMap(directory: dir.url.appendingPathComponent("cm"))
        try configMap.publish(["config.json": Self.maggConfig(["time"])])
        let magg = try await PeerGatewayProcess(
            PeerGatewayProcess.magg,
            [
                "--config", dir.file("cm/config.json"), "serve", "--http", "--host", "127.0.0.1", "--port", "{port}",
                "--no-banner",
            ],
            environment: ["HOME": dir.file("home")], name: "magg", directory: dir)
        let maggPython = PeerGatewayProcess.maggPython
        let sidecar = try await SidecarProcess(
            [
                "--watch", dir.file("cm"), "--file", "config.json", "--interval", "100ms",
                "--validate-command", "\(maggPython) \(Self.peers)/magg-validate.py {}", "--validate-timeout", "120s",
                "--signal", "sighup", "--pid-file", dir.write("magg.pid", "\(magg.pid)"),
                "--confirm-command", "\(maggPython) \(Self.peers)/magg-confirm.py \(magg.url) {}",
                "--confirm-timeout", "60s",
            ], logPath: dir.file("sidecar.log"))
        #expect(try await Self.tools(magg.url).contains("get_current_time"))

        try configMap.publish(["config.json": Self.maggConfig(["time", "clock"])])
        try await eventually("the new server's tools through magg", timeout: .seconds(60)) {
            try await Self.tools(magg.url).contains("clock_get_current_time")
        }
        try await eventually("the sidecar to confirm it (log: \(sidecar.logPath))") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }

        // A removal, which magg applies only when its watcher is left in place (see maggConfig).
        try configMap.publish(["config.json": Self.maggConfig(["clock"])])
        try await eventually("the removed server's tools to leave magg", timeout: .seconds(60)) {
            let names = try await Self.tools(magg.url)
            return !names.contains("get_current_time") && names.contains("clock_get_current_time")
        }

        // No `source`: magg would skip (unmount) the server; the sidecar's check refuses the whole file.
        try configMap.publish(["config.json": Self.maggConfig(["clock", "other"], broken: true)])
        try await eventually("the sidecar to refuse the content (log: \(sidecar.logPath))", timeout: .seconds(120)) {
            try await sidecar.metric("hotswap_sidecar_validation_failures_total") == 1
        }
        #expect(sidecar.log.contains("source"), "the refusal names what is missing: \(sidecar.log)")
        #expect(try await Self.tools(magg.url).contains("clock_get_current_time"), "the last good config serves")
        try await sidecar.stop()
        try await magg.stop()
    }
}
