import Foundation
import HotswapClient
import HotswapCore
import HotswapRuntime
import HotswapSidecar
import HotswapTestSupport
import HotswapWatch
import Logging
import Testing

@Suite("Sidecar signal modes, --once, health, mounts", .serialized)
struct SignalModeTests {
    @Test("sighup mode against the gateway: token file written atomically, SIGHUP sent, confirmed through /stats")
    func sighupGateway() async throws {
        let m = marker()
        let keys = try TemporaryDirectory("keys")
        defer { keys.remove() }
        try keys.write("ops.secret", "a-shared-secret-of-at-least-32-bytes-for-sighup\n")
        let initial = sidecarCatalog(m, ["a"])
        let gw = try await GatewayProcess(
            catalog: initial,
            arguments: [
                "--no-watch", "--verify-key", keys.file("ops.secret"), "--token-file", keys.file("token"),
                "--listen", "127.0.0.1:0",
            ], marker: m)
        let pidFile = try gw.dir.write("gateway.pid", "\(gw.process.processIdentifier)\n")
        let sidecar = try await SidecarProcess(
            [
                "--watch", gw.configPath, "--signal", "sighup", "--pid-file", pidFile, "--token-file",
                keys.file("token"),
                "--signing-key", keys.file("ops.secret"), "--stats-url", gw.socket, "--interval", "100ms",
            ], logPath: gw.dir.file("sidecar.log"))
        try await eventually("start") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 1
        }
        let next = sidecarCatalog(m, ["a", "b"])
        try Data(next.utf8).write(to: URL(fileURLWithPath: gw.configPath))
        try await eventually("the SIGHUP reload, confirmed") {
            try await sidecar.metric("hotswap_sidecar_reloads_total{result=\"applied\"}") == 2
        }
        let stats = try gw.json("GET", "/stats").1
        #expect(stats["config_sha256"]?.stringValue == ContentHash.sha256(Array(next.utf8)))
        #expect(stats["last_reload"]?["source"] == "sighup")
        #expect(FileManager.default.fileExists(atPath: keys.file("token")))
        try await sidecar.stop()
        try await gw.finish()
    }

    @Test("sighup mode against a plain process, and http mode against a small HTTP server")
    func plainTargets() async throws {
        let dir = try TemporaryDirectory("targets")
        defer { dir.remove() }
        let watched = try dir.write("app.conf.json", "{\"v\": 1}")
        let counter = dir.file("hups")
        let script = try dir.write(
            "target.py",
            """
            import os, signal, sys, time, http.server, threading
            # Foundation's Process passes on the test runner's blocked signals; a real service starts clean.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
            count = {"hup": 0, "post": 0}
            def write():
                with open(sys.argv[1] + ".tmp", "w") as f: f.write(f"{count['hup']} {count['post']}")
                os.replace(sys.argv[1] + ".tmp", sys.argv[1])
            def on_hup(*_):
                count["hup"] += 1; write()
            signal.signal(signal.SIGHUP, on_hup)
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    count["post"] += 1; write()
                    self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
                def log_message(self, *a): pass
            server = http.server.HTTPServer(("127.0.0.1", 0), H)
            with open(sys.argv[2], "w") as f: f.write(str(server.server_address[1]))
            write()
            server.serve_forever()
            """)
        let portFile = dir.file("port")
        let target = Process()
        target.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        target.arguments = ["python3", script, counter, portFile]
        try target.run()
        defer {
            target.terminate()
            target.waitUntilExit()
        }
        try await eventually("the target to start") { FileManager.default.fileExists(atPath: portFile) }
        let port = try String(contentsOfFile: portFile, encoding: .utf8)
        func counts() -> [Int] {
            ((try? String(contentsOfFile: counter, encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int($0) }
        }
        let hup = try await SidecarProcess(
            [
                "--watch", watched, "--format", "json", "--signal", "sighup", "--pid-file",
                try dir.write("pid", "\(target.processIdentifier)"), "--interval", "100ms",
            ],
            logPath: dir.file("hup.log"))
        // The content at start is the target's own (it read the same file): only a change is signalled.
        try await eventually("the first poll") { try await hup.metric("hotswap_sidecar_polls_total") >= 2 }
        #expect(hup.log.contains("taken as the one the gateway loaded"))
        try Data("{\"v\": 2}".utf8).write(to: URL(fileURLWithPath: watched))
        try await eventually("the SIGHUP") { counts().first == 1 }
        // The target can count the signal before the sidecar has recorded sending it.
        try await eventually("the push recorded as unconfirmed") {
            try await hup.metric("hotswap_sidecar_reloads_total{result=\"unconfirmed\"}") >= 1
        }
        #expect(try await hup.metric("hotswap_sidecar_reloads_total{result=\"unconfirmed\"}") == 1)
        #expect(hup.log.contains("signalled but unconfirmed"))
        try await hup.stop()

        let http = try await SidecarProcess(
            [
                "--watch", watched, "--format", "json", "--signal", "http", "--url",
                "http://127.0.0.1:\(port)/-/reload", "--interval", "100ms",
            ],
            logPath: dir.file("http.log"))
        try await eventually("the first poll") { try await http.metric("hotswap_sidecar_polls_total") >= 2 }
        try Data("{\"v\": 3}".utf8).write(to: URL(fileURLWithPath: watched))
        try await eventually("the POST") { counts().last == 1 }
        // Invalid JSON is not signalled.
        try Data("{\"v\": ".utf8).write(to: URL(fileURLWithPath: watched))
        try await eventually("the validation failure") {
            try await http.metric("hotswap_sidecar_validation_failures_total") == 1
        }
        #expect(counts() == [1, 1], "one SIGHUP, one POST, nothing for the invalid content")
        #expect(http.log.contains("app.conf.json:1:7: error:"))
        try await http.stop()
    }

    @Test("--once exit codes: applied 0, invalid 1, refused 3, unreachable 4")
    func once() async throws {
        let m = marker()
        let keys = try TemporaryDirectory("keys")
        defer { keys.remove() }
        try keys.write("gw.secret", "a-shared-secret-of-at-least-32-bytes-for-once!\n")
        let gw = try await GatewayProcess(
            catalog: sidecarCatalog(m, ["a"]), arguments: ["--no-watch", "--verify-key", keys.file("gw.secret")],
            marker: m)
        let next = try gw.dir.write("next.yaml", sidecarCatalog(m, ["a", "b"]))
        func once(_ file: String, _ extra: [String] = []) throws -> ProcessOutput {
            try ProcessRunner.hotswap(
                ["sidecar", "--once", "--watch", file, "--socket", gw.socket, "--once-timeout", "2s"] + extra)
        }
        let applied = try once(next, ["--signing-key", keys.file("gw.secret")])
        #expect(applied.status == 0, "\(applied)")
        #expect(
            try gw.json("GET", "/stats").1["config_sha256"]?.stringValue
                == ContentHash.sha256(Array(sidecarCatalog(m, ["a", "b"]).utf8)))
        let invalid = try once(try gw.dir.write("bad.yaml", "version: 1\n"))
        #expect(invalid.status == 1, "\(invalid)")
        let refused = try once(try gw.dir.write("other.yaml", sidecarCatalog(m, ["c"])))
        #expect(refused.status == 3, "no token: \(refused)")
        #expect(refused.stderr.contains("missing"))
        let unreachable = try ProcessRunner.hotswap(
            ["sidecar", "--once", "--watch", next, "--socket", gw.dir.file("nobody.sock"), "--once-timeout", "1s"])
        #expect(unreachable.status == 4, "\(unreachable)")
        try await gw.finish()
    }

    @Test("/healthz turns unhealthy when polling is stuck on a file system that blocks")
    func stuckPolling() async throws {
        let fs = BlockingFileSystem()
        var settings = CatalogPoller.Settings(watch: "/catalog.yaml")
        settings.settle = .milliseconds(10)
        var config = WatchConfiguration(
            poller: settings, signaler: SocketSignaler(endpoint: .unix(path: "/nonexistent")))
        config.interval = .milliseconds(50)
        let controller = ReloadController(configuration: config, logger: Logger(label: "test"), fileSystem: fs)
        let loop = Task { await controller.run() }
        try await eventually("the first content read and validated") { controller.validHash != nil }
        #expect(controller.isHealthy())
        fs.block()
        try await eventually("health to fail while the poll is stuck") { !controller.isHealthy() }
        fs.unblock()
        try await eventually("health to recover") { controller.isHealthy() }
        loop.cancel()
        await loop.value
    }

    @Test("a single-file bind mount is warned about (a real mount namespace)")
    func singleFileMount() async throws {
        let dir = try TemporaryDirectory("mount")
        defer { dir.remove() }
        let source = try dir.write("host-catalog.yaml", "version: 1\nservers: []\n")
        let target = try dir.write("catalog.yaml", "")
        let hotswap = TestPaths.product("hotswap")
        let r = try ProcessRunner.run(
            "/usr/bin/unshare",
            [
                "-m", "--propagation", "private", "sh", "-c",
                "mount --bind \(source) \(target) && exec \(hotswap) sidecar --once --watch \(target) --socket \(dir.file("none.sock")) --once-timeout 1s",
            ])
        #expect(r.stderr.contains("the watched file is itself a mount point"), "\(r)")
        #expect(r.status == 4, "it read the mounted content and found no gateway: \(r)")
        // Watching the directory instead: no warning.
        let d = try ProcessRunner.run(
            "/usr/bin/unshare",
            [
                "-m", "--propagation", "private", "sh", "-c",
                "exec \(hotswap) sidecar --once --watch \(dir.path) --file host-catalog.yaml --socket \(dir.file("none.sock")) --once-timeout 1s",
            ])
        #expect(!d.stderr.contains("mount point"), "\(d)")
    }
}

/// A file system whose stat can be made to hang, as a stuck NFS or FUSE mount does.
final class BlockingFileSystem: WatchFileSystem, @unchecked Sendable {
    // @unchecked: the condition guards `blocked`.
    private let condition = NSCondition()
    private var blocked = false

    func block() { condition.withLock { blocked = true } }
    func unblock() {
        condition.withLock {
            blocked = false
            condition.broadcast()
        }
    }

    func stamp(_ path: String) -> FileStamp? {
        condition.withLock { while blocked { condition.wait() } }
        return FileStamp(device: 1, inode: 1, size: 23, mtime: 1, ctime: 1)
    }

    func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8] { Array("version: 1\nservers: []\n".utf8) }
    func isDirectory(_ path: String) -> Bool { false }
}
