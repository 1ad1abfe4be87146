import Foundation
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// A process in a mount namespace of its own, seeing host directories through read-only bind mounts, as a
/// container sees its volumes.
final class ContainerProcess: @unchecked Sendable {
    // @unchecked: Foundation's Process; one test owns it.
    let process = Process()
    let logPath: String

    /// `mounts`: (host directory, path inside) pairs, bound read-only.
    init(mounts: [(String, String)], command: [String], logPath: String) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        var script = ""
        for (source, target) in mounts {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            script += "mount --bind '\(source)' '\(target)' && mount -o remount,bind,ro '\(target)' && "
        }
        script += "exec " + command.map { "'\($0)'" }.joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "--propagation", "private", "sh", "-c", script]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() async throws {
        if process.isRunning { process.terminate() }
        try await eventually("\(process.arguments?.last ?? "") to exit") { !self.process.isRunning }
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// The three ways hotswap is used, reproduced with real processes: each container in its own mount
/// namespace, the catalog directory bind-mounted read-only from a "host" directory, the control socket in a
/// directory they share.
@Suite("Container topology: compose, Kubernetes, by hand", .serialized)
struct ContainerTopologyTests {
    struct Host {
        let root: TemporaryDirectory
        let marker = "t\(UInt32.random(in: 0...UInt32.max))"
        var run: String { root.file("run") }
        var keys: String { root.file("keys") }

        init() throws {
            root = try TemporaryDirectory("hotswap-host")
            for d in ["run", "keys", "catalog"] {
                try FileManager.default.createDirectory(atPath: root.file(d), withIntermediateDirectories: true)
            }
            let r = try ProcessRunner.hotswap(["keygen", "--name", "sidecar", "--out", root.file("keys")])
            guard r.status == 0 else { throw ProcessTestFailure("keygen: \(r)") }
        }

        func catalog(_ name: String) -> String {
            "version: 1\nservers:\n" + GatewayProcess.demo("echo", name: name, marker: marker)
        }

        func whoami(_ socket: String) throws -> String {
            try MCPTestClient(endpoint: .unix(path: socket)).tool("echo__whoami")
        }

        func stats(_ socket: String) throws -> JSONValue {
            try JSONValue.parse(try ControlClient.request(.unix(path: socket), method: "GET", path: "/stats").body)
        }

        /// A gateway "container" seeing `catalogDir` at its /etc/hotswap.
        func gateway(catalogDir: String, extra: [String] = []) async throws -> (ContainerProcess, String) {
            let view = root.file("gateway-view/etc/hotswap")
            let socket = "\(run)/control.sock"
            let gw = try ContainerProcess(
                mounts: [(catalogDir, view)],
                command: [
                    TestPaths.product("hotswap"), "gateway", "--config", view, "--control-socket", socket,
                    "--no-listen",
                    "--no-watch", "--verify-key", "\(keys)/sidecar.pub.pem",
                ] + extra,
                logPath: root.file("gateway.log"))
            try await eventually("the gateway to be ready (\(root.file("gateway.log")))") {
                (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz").status) == 200
            }
            return (gw, socket)
        }

        /// A sidecar "container" seeing `catalogDir` at its own /etc/hotswap.
        func sidecar(catalogDir: String, extra: [String]) throws -> ContainerProcess {
            let view = root.file("sidecar-view/etc/hotswap")
            return try ContainerProcess(
                mounts: [(catalogDir, view)],
                command: [
                    TestPaths.product("hotswap"), "sidecar", "--watch", view, "--signing-key",
                    "\(keys)/sidecar.key.pem",
                    "--interval", "100ms", "--no-listen",
                ] + extra,
                logPath: root.file("sidecar.log"))
        }

        func finish(_ processes: [ContainerProcess]) async throws {
            for p in processes.reversed() { try await p.stop() }
            try await eventually("no demo server left") { GatewayProcess.processes(matching: marker).isEmpty }
            root.remove()
        }
    }

    @Test(
        "compose path: in-place and rename-save edits on the host are applied with a signed token; invalid is refused")
    func compose() async throws {
        let host = try Host()
        let dir = host.root.file("catalog")
        let file = "\(dir)/catalog.yaml"
        try Data(host.catalog("v1").utf8).write(to: URL(fileURLWithPath: file))
        let (gw, socket) = try await host.gateway(catalogDir: dir)
        let sc = try host.sidecar(catalogDir: dir, extra: ["--socket", socket])
        #expect(try host.whoami(socket).hasPrefix("v1-"))
        // The gateway read its catalog through a mount only its namespace has: the host sees an empty directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.root.file("gateway-view/etc/hotswap")).isEmpty)
        try Data(host.catalog("v2").utf8).write(to: URL(fileURLWithPath: file))
        try await eventually("the in-place edit") { (try? host.whoami(socket))?.hasPrefix("v2-") == true }
        try Data(host.catalog("v3").utf8).write(to: URL(fileURLWithPath: "\(dir)/.catalog.yaml.swp"))
        #expect(rename("\(dir)/.catalog.yaml.swp", file) == 0)
        try await eventually("the rename-save") { (try? host.whoami(socket))?.hasPrefix("v3-") == true }
        let generation = try host.stats(socket)["generation"]
        try Data("version: 1\nservers:\n  - id: echo\n".utf8).write(to: URL(fileURLWithPath: file))
        try await eventually("the sidecar to refuse it") { sc.log.contains("invalid catalog: not signalled") }
        #expect(try host.stats(socket)["generation"] == generation)
        #expect(try host.whoami(socket).hasPrefix("v3-"), "the gateway keeps serving")
        #expect(gw.log.contains("reload.source=socket"))
        try await host.finish([gw, sc])
    }

    @Test(
        "Kubernetes path: the kubelet's ConfigMap updates are applied, over the socket and with SIGHUP; invalid is refused"
    )
    func kubernetes() async throws {
        for mode in ["socket", "sighup"] {
            let host = try Host()
            var cm = try KubeletConfigMap(directory: host.root.url.appendingPathComponent("cm"))
            try cm.publish(["catalog.yaml": host.catalog("v1")])
            let cmDir = host.root.file("cm")
            let sighup = mode == "sighup"
            let (gw, socket) = try await host.gateway(
                catalogDir: cmDir,
                extra: sighup ? ["--token-file", "\(host.run)/token", "--pid-file", "\(host.run)/gateway.pid"] : [])
            let sc = try host.sidecar(
                catalogDir: cmDir,
                extra: sighup
                    ? [
                        "--signal", "sighup", "--pid-file", "\(host.run)/gateway.pid", "--token-file",
                        "\(host.run)/token", "--stats-url", socket,
                    ]
                    : ["--socket", socket])
            for v in 2...3 {
                try cm.publish(["catalog.yaml": host.catalog("v\(v)")])
                try await eventually("\(mode): ConfigMap update v\(v)") {
                    (try? host.whoami(socket))?.hasPrefix("v\(v)-") == true
                }
            }
            #expect(try host.stats(socket)["last_reload"]?["source"]?.stringValue == (sighup ? "sighup" : "socket"))
            try cm.publish(["catalog.yaml": "version: 1\nservers:\n  - id: Echo\n"])
            try await eventually("\(mode): the refusal") { sc.log.contains("invalid catalog: not signalled") }
            #expect(try host.whoami(socket).hasPrefix("v3-"))
            try await host.finish([gw, sc])
        }
    }

    @Test("by hand: hotswap reload and curl --unix-socket with a token from hotswap token; invalid is refused")
    func byHand() async throws {
        let host = try Host()
        let dir = host.root.file("catalog")
        let file = "\(dir)/catalog.yaml"
        try Data(host.catalog("v1").utf8).write(to: URL(fileURLWithPath: file))
        let (gw, socket) = try await host.gateway(catalogDir: dir)
        let key = "\(host.keys)/sidecar.key.pem"
        let next = try host.root.write("next.yaml", host.catalog("v2"))
        let reload = try ProcessRunner.hotswap(["reload", "--socket", socket, "--config", next, "--key", key])
        #expect(reload.status == 0, "\(reload)")
        #expect(try host.whoami(socket).hasPrefix("v2-"))
        let third = try host.root.write("third.yaml", host.catalog("v3"))
        let token = try ProcessRunner.hotswap(["token", "--key", key, "--config", third]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let curl = try ProcessRunner.tool(
            "curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "-H",
                "Authorization: Bearer \(token)",
                "--data-binary", "@\(third)", "http://gateway/admin/reload",
            ])
        #expect(curl.stdout == "200", "\(curl)")
        #expect(try host.whoami(socket).hasPrefix("v3-"))
        let bad = try host.root.write("bad.yaml", "version: 1\nservers:\n  - id: echo\n    runtime: {type: remote}\n")
        let refused = try ProcessRunner.hotswap(["reload", "--socket", socket, "--config", bad, "--key", key])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("bad.yaml:4:14: error: servers[0].runtime.url"), "\(refused)")
        #expect(try host.whoami(socket).hasPrefix("v3-"))
        let noToken = try ProcessRunner.hotswap(["reload", "--socket", socket, "--config", next])
        #expect(noToken.status == 1 && noToken.stderr.contains("missing"), "\(noToken)")
        try await host.finish([gw])
    }
}
