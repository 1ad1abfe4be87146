import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Synchronization
import Testing

/// The open descriptors of a process: fd number to what it points at (`socket:[123]`, `pipe:[45]`, a path).
func openDescriptors(_ pid: Int32) -> [Int: String] {
    let dir = "/proc/\(pid)/fd"
    var out: [Int: String] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        guard let fd = Int(entry),
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(entry)")
        else { continue }
        out[fd] = target
    }
    return out
}

/// An Ed25519 key pair in a temporary directory, and tokens signed with it.
struct TestKeys: Sendable {
    let dir: TemporaryDirectory
    let key: TokenKey
    var publicKeyPath: String { dir.file("ops.pub.pem") }

    init() throws {
        dir = try TemporaryDirectory("keys")
        let seed = try Crypto.ed25519GenerateSeed()
        try dir.write("ops.key.pem", try Crypto.writePEM(.ed25519Private(seed: seed)))
        try dir.write("ops.pub.pem", try Crypto.writePEM(.ed25519Public(try Crypto.ed25519PublicKey(seed: seed))))
        key = try TokenKey.load(path: dir.file("ops.key.pem"))
    }

    func token(op: String = "reload", sha: String?, server: String? = nil) throws -> String {
        try ReloadTokenSigner(key: key).mint(
            op: op, sha256: sha, audience: "hotswap-gateway", issuer: "tests", ttlSeconds: 60, server: server)
    }

    func bearer(op: String = "reload", sha: String?) throws -> [(String, String)] {
        [("Authorization", "Bearer \(try token(op: op, sha: sha))")]
    }
}

/// `hotswap gateway ARGS` started by /bin/sh after `setup` (a umask, a ulimit), as an operator's shell would;
/// its output goes to `log`, or nowhere.
func gatewayAfter(_ setup: String, _ arguments: [String], log: String? = nil) throws -> Process {
    let gateway = Process()
    gateway.executableURL = URL(fileURLWithPath: "/bin/sh")
    let redirect = log.map { " >\($0) 2>&1" } ?? " 2>/dev/null"
    gateway.arguments =
        ["-c", "\(setup); exec \"$0\" gateway \"$@\"\(redirect)", TestPaths.product("hotswap")] + arguments
    try gateway.run()
    return gateway
}

@Suite("Gateway security (real processes)", .serialized)
struct SecurityTests {
    /// Issue 8, item 7: a `${VAR}` in `command` showed expanded in `GET /servers`, MCP errors and logs, one in
    /// an invalid `url` in logs, the 422 report and `validate`; and every server got the whole environment.
    @Test("expanded secrets never leave the gateway, and a server gets a minimal environment plus its own env")
    func secretsStayInside() async throws {
        let m = marker()
        let secret = "s3cret-\(m)"
        let broken = """
              - id: broken
                runtime:
                  type: local-process
                  command: "/nonexistent/${SECRET_CMD}"
            """
        let good = GatewayProcess.demo("a", marker: m, extra: "      env: { MINE: \"${MY_KEY}\" }")
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n\(broken)\n\(good)",
            arguments: ["--pass-env", "PASSED", "--listen", "127.0.0.1:0"],
            environment: [
                "SECRET_CMD": secret, "MY_KEY": "mine-\(m)", "OTHER_SECRET": "other-\(secret)", "PASSED": "passed-\(m)",
                "BAD_URL": "notaurl-\(secret)",
            ], marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let call = try client.call("tools/call", ["name": "broken__whoami", "arguments": [:]])
        #expect(call["error"] != nil && !call.text.contains(secret), "\(call.text)")
        #expect(call.text.contains("${SECRET_CMD}"), "the error names the command as written: \(call.text)")
        let servers = try gw.request("GET", "/servers").text
        #expect(!servers.contains(secret) && servers.contains("${SECRET_CMD}"), "\(servers)")

        // A server's environment: the base, --pass-env, its own env; no other secret of the gateway's.
        _ = try client.tool("a__whoami")
        let pid = try #require(try gw.pid("a"))
        let environ = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8).split(separator: "\0")
        let names = Set(environ.map { String($0.prefix { $0 != "=" }) })
        #expect(environ.contains("MINE=mine-\(m)") && environ.contains("PASSED=passed-\(m)"), "\(names)")
        #expect(names.contains("PATH"))
        #expect(
            !names.contains("OTHER_SECRET") && !names.contains("SECRET_CMD") && !names.contains("MY_KEY"), "\(names)")

        // An invalid URL built from a variable: the 422 report shows it as written.
        let badRemote = """
            version: 1
            servers:
              - id: r
                runtime: { type: remote, url: "${BAD_URL}" }
            """
        let (status, report) = try gw.reload(badRemote)
        #expect(status == 422 && !report.text.contains(secret) && report.text.contains("${BAD_URL}"), "\(report.text)")
        let validate = try await onThread {
            try ProcessRunner.hotswap(
                ["validate", try gw.dir.write("bad.yaml", badRemote)], environment: ["BAD_URL": "notaurl-\(secret)"])
        }
        #expect(validate.status != 0 && !(validate.stdout + validate.stderr).contains(secret), "\(validate)")
        #expect((validate.stdout + validate.stderr).contains("${BAD_URL}"), "\(validate)")
        try await gw.finish()
        #expect(!gw.log.contains(secret), "the log holds an expanded secret")
    }

    /// Issue 8, item 8: a local user listening first on the default `/tmp/hotswap.sock` received a signed token
    /// and the catalog from `hotswap reload --key`, and answered with a fake "applied".
    /// Issue 13, item 5: in a shared PID namespace (compose `pid: service:`, Kubernetes `shareProcessNamespace`)
    /// a server the gateway spawns runs as the sidecar's user and could read the signing key through
    /// /proc/PID/root. The sidecar makes itself undumpable; here both run as one unprivileged user.
    @Test("a sidecar holding a signing key cannot be read through /proc by another process of its user")
    func sidecarUndumpable() async throws {
        let dir = try TemporaryDirectory("undumpable")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let made = try ProcessRunner.hotswap(["keygen", "--name", "sidecar", "--out", dir.path])
        #expect(made.status == 0, "\(made)")
        let key = dir.file("sidecar.key.pem")
        chown(key, 10001, 10001)
        let catalog = try dir.write("catalog.yaml", "version: 1\nservers: []\n")
        let sidecar = Process()
        sidecar.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        sidecar.arguments = [
            "--reuid", "10001", "--regid", "10001", "--clear-groups", TestPaths.product("hotswap"), "sidecar",
            "--watch", catalog, "--signing-key", key, "--socket", dir.file("nobody.sock"), "--no-listen",
        ]
        let log = dir.file("sidecar.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        sidecar.standardOutput = handle
        sidecar.standardError = handle
        try sidecar.run()
        defer { if sidecar.isRunning { kill(sidecar.processIdentifier, SIGKILL) } }
        try await eventually("the sidecar to start (log: \(log))") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("watching")
        }
        let pid = sidecar.processIdentifier
        let peek = try ProcessRunner.run(
            "/usr/bin/setpriv",
            ["--reuid", "10001", "--regid", "10001", "--clear-groups", "/bin/cat", "/proc/\(pid)/root\(key)"])
        #expect(peek.status != 0 && !peek.stdout.contains("PRIVATE KEY"), "\(peek)")
        let environ = try ProcessRunner.run(
            "/usr/bin/setpriv",
            ["--reuid", "10001", "--regid", "10001", "--clear-groups", "/bin/cat", "/proc/\(pid)/environ"])
        #expect(environ.status != 0, "\(environ)")
        kill(pid, SIGTERM)
        try await eventually("the sidecar to stop") { !sidecar.isRunning }
    }

    @Test("clients send nothing to a control socket another user listens on")
    func squattedSocketGetsNothing() async throws {
        let keys = try TestKeys()
        defer { keys.dir.remove() }
        let dir = try TemporaryDirectory("squat")
        defer { dir.remove() }
        chmod(dir.path, 0o777)
        let path = dir.file("control.sock")
        let squatter = Process()
        squatter.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        squatter.arguments = [
            "-c",
            """
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
            os.setgid(65534); os.setuid(65534)
            s.listen(8); print("ready", flush=True)
            s.settimeout(20)
            c, _ = s.accept(); c.settimeout(5)
            data = c.recv(65536)
            print("received", len(data), data[:300], flush=True)
            c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 20\\r\\n\\r\\n{"result":"applied"}')
            """, path,
        ]
        let heardPath = dir.file("heard.txt")
        FileManager.default.createFile(atPath: heardPath, contents: nil)
        squatter.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: heardPath))
        try squatter.run()
        defer { if squatter.isRunning { squatter.terminate() } }
        try await eventually("the squatter to listen") {
            ((try? String(contentsOfFile: heardPath, encoding: .utf8)) ?? "").contains("ready")
        }
        let catalogPath = try dir.write("catalog.yaml", "version: 1\nservers: []\n")
        let run = try await onThread {
            try ProcessRunner.hotswap(
                ["reload", "--socket", path, "--key", keys.dir.file("ops.key.pem"), "--config", catalogPath])
        }
        #expect(run.status == 2, "\(run)")
        #expect(run.stderr.contains("uid 65534") && run.stderr.contains("refusing"), "\(run)")
        #expect(!run.stdout.contains("applied"), "\(run)")
        squatter.terminate()
        try await eventually("the squatter to exit") { !squatter.isRunning }
        let heard = (try? String(contentsOfFile: heardPath, encoding: .utf8)) ?? ""
        #expect(!heard.contains("Bearer") && !heard.contains("servers"), "the squatter got: \(heard)")
    }

    @Test("the default control socket lives in a private directory, and a foreign one there is refused")
    func defaultSocketIsPrivate() async throws {
        let m = marker()
        let runtime = try TemporaryDirectory("xdg")
        defer { runtime.remove() }
        let config = try runtime.write("catalog.yaml", catalog(m, [("a", nil, "")]))
        let env = ["XDG_RUNTIME_DIR": runtime.path]
        let gateway = Process()
        gateway.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
        gateway.arguments = ["gateway", "--config", config, "--no-listen", "--no-watch"]
        gateway.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        gateway.standardError = FileHandle.nullDevice
        try gateway.run()
        defer { if gateway.isRunning { gateway.terminate() } }
        let socket = runtime.file("hotswap/control.sock")
        try await eventually("the gateway's default socket") { FileManager.default.fileExists(atPath: socket) }
        let dirMode = try FileManager.default.attributesOfItem(atPath: runtime.file("hotswap"))[.posixPermissions]
        #expect(dirMode as? Int == 0o700)
        let status = try await onThread { try ProcessRunner.hotswap(["status"], environment: env) }
        #expect(status.status == 0, "the clients find the same default: \(status)")
        gateway.terminate()
        gateway.waitUntilExit()

        // A directory someone else made (here: open to all) is refused, with what to do.
        let other = try TemporaryDirectory("xdg-other")
        defer { other.remove() }
        mkdir(other.file("hotswap"), 0o777)
        chmod(other.file("hotswap"), 0o777)
        let refused = try await onThread {
            try ProcessRunner.hotswap(
                ["gateway", "--config", config, "--no-listen", "--no-watch"],
                environment: ["XDG_RUNTIME_DIR": other.path])
        }
        #expect(refused.status == 2 && refused.stderr.contains("private (0700)"), "\(refused)")
    }

    @Test("under umask 000 the control socket is never open to other users, not even while it is created")
    func socketBornPrivate() async throws {
        let m = marker()
        for round in 0..<12 {
            let dir = try TemporaryDirectory("umask")
            defer { dir.remove() }
            let config = try dir.write("catalog.yaml", catalog(m, [("a", nil, "")]))
            let socket = dir.file("control.sock")
            let seen = Mutex<[Int]>([])
            let stop = Atomic<Bool>(false)
            let watcher = Thread {
                var info = stat()
                while !stop.load(ordering: .relaxed) {
                    if lstat(socket, &info) == 0 {
                        let mode = Int(info.st_mode & 0o777)
                        seen.withLock { if $0.last != mode { $0.append(mode) } }
                    }
                }
            }
            watcher.start()
            let gateway = try gatewayAfter(
                "umask 000", ["--config", config, "--control-socket", socket, "--no-listen", "--no-watch"])
            try await eventually("the socket to be ready") {
                (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz"))?.status == 200
            }
            // On a busy machine the watching thread may not have run yet: it must have looked at least once.
            try await eventually("the watcher to see the socket") { !seen.withLock { $0.isEmpty } }
            gateway.terminate()
            gateway.waitUntilExit()
            stop.store(true, ordering: .relaxed)
            let modes = seen.withLock { $0 }
            #expect(!modes.isEmpty && modes.allSatisfy { $0 & 0o077 == 0 }, "round \(round): modes seen \(modes)")
        }
    }

    /// Issue 8, item 15: Host (DNS rebinding), Content-Type, Accept, Origin on DELETE, GET without a session,
    /// and a 413 that left the client waiting.
    @Test("the HTTP surface: 421 for a foreign Host, 415, 406, Origin on DELETE, 400 without a session, 413 closes")
    func httpSurface() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let port = try await gw.tcpPort()
        let raw = RawHTTP(port: port)
        let me = "127.0.0.1:\(port)"
        let mcpHeaders = ["Content-Type: application/json", "Accept: application/json, text/event-stream"]
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
        // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
        for path in ["/stats", "/servers"] {
            let r = try await raw.exchange(
                "GET \(path) HTTP/1.1\r\nHost: evil.example:\(port)\r\nConnection: close\r\n\r\n")
            #expect(r.status == 421, "\(r.text)")
        }
        let evil = try await raw.exchange(
            RawHTTP.post("/mcp", host: "evil.example", headers: mcpHeaders, body: initialize))
        #expect(evil.status == 421 && !evil.text.contains("Mcp-Session-Id"), "\(evil.text)")
        for host in [me, "localhost:\(port)", "localhost"] {
            let ok = try await raw.exchange(RawHTTP.post("/mcp", host: host, headers: mcpHeaders, body: initialize))
            #expect(ok.status == 200, "\(host): \(ok.text)")
        }
        // Content-Type and Accept as Streamable HTTP requires.
        let plain = try await raw.exchange(
            RawHTTP.post(
                "/mcp", host: me, headers: ["Content-Type: text/plain", "Accept: application/json, text/event-stream"],
                body: initialize))
        #expect(plain.status == 415, "\(plain.text)")
        let jsonOnly = try await raw.exchange(
            RawHTTP.post(
                "/mcp", host: me, headers: ["Content-Type: application/json", "Accept: application/json"],
                body: initialize
            ))
        #expect(jsonOnly.status == 406, "\(jsonOnly.text)")
        // GET without a session is a bad request; with an unknown one, not found.
        let noSession = try await raw.exchange(
            "GET /mcp HTTP/1.1\r\nHost: \(me)\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
        #expect(noSession.status == 400, "\(noSession.text)")
        let unknown = try await raw.exchange(
            "GET /mcp HTTP/1.1\r\nHost: \(me)\r\nAccept: text/event-stream\r\nMcp-Session-Id: nope\r\nConnection: close\r\n\r\n"
        )
        #expect(unknown.status == 404, "\(unknown.text)")
        // An evil page cannot end a session.
        let client = try MCPTestClient(endpoint: .tcp(host: "127.0.0.1", port: port))
        let session = try #require(client.sessionID)
        let delete = try await raw.exchange(
            "DELETE /mcp HTTP/1.1\r\nHost: \(me)\r\nOrigin: http://evil.example\r\nMcp-Session-Id: \(session)\r\nConnection: close\r\n\r\n"
        )
        #expect(delete.status == 403, "\(delete.text)")
        #expect(try client.call("ping")["result"] != nil, "the session survives")
        // Over the size limit: 413 at once, and the connection closes, so the client is not left sending.
        let started = ContinuousClock.now
        let big = try await raw.exchange(
            "POST /mcp HTTP/1.1\r\nHost: \(me)\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 50000000\r\n\r\n",
            body: [UInt8](repeating: 0x20, count: 1000), timeout: 20)
        #expect(big.status == 413 && big.closed, "\(big)")
        #expect(ContinuousClock.now - started < .seconds(15), "the client was left waiting")
        // Unix socket: any Host (curl --unix-socket sends localhost, others their own).
        let viaSocket = try ControlClient.request(
            .unix(path: gw.socket), method: "GET", path: "/stats", headers: [("Host", "whatever")])
        #expect(viaSocket.status == 200)
        try await gw.finish()
    }

    /// Issue 8, item 13: made-up tool names created unbounded metric series.
    @Test("calls to made-up servers create no metric series")
    func metricsLabelOnlyLiveServers() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("a", nil, "")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        for i in 0..<40 {
            let r = try client.call("tools/call", ["name": .string("made\(i)-up__x"), "arguments": [:]])
            #expect(r["error"] != nil)
        }
        _ = try client.tool("a__whoami")
        let metrics = try gw.request("GET", "/metrics").text
        #expect(!metrics.contains("made"), "\(metrics)")
        #expect(metrics.contains(#"hotswap_gateway_requests_total{outcome="ok",server="a"}"#), "\(metrics)")
        try await gw.finish()
    }

    /// Issue 8, item 12: 10,001 unauthenticated initializes pushed out every session.
    @Test("an initialize flood evicts only unused sessions: used ones and ones with a call in flight stay")
    func sessionFloodEvictsOnlyItself() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: ["--max-sessions", "20", "--max-sessions-per-client", "15"],
            marker: m)
        let endpoint = ControlEndpoint.unix(path: gw.socket)
        let used = try MCPTestClient(endpoint: endpoint)
        _ = try used.tool("a__whoami")
        let busy = try MCPTestClient(endpoint: endpoint)
        async let longCall = onThread { try busy.tool("a__sleep", ["seconds": 3]) }
        try await eventually("the long call to be in flight") {
            (try gw.json("GET", "/servers/a").1["in_flight"]?.intValue ?? 0) == 1
        }
        var refused = 0
        for _ in 0..<100 {
            let reply = try ControlClient.request(
                endpoint, method: "POST", path: "/mcp",
                headers: [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")],
                body: Array(
                    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}"#
                        .utf8))
            if reply.status != 200 { refused += 1 }
        }
        #expect(refused == 0, "flood sessions make room for each other")
        // A flood that also uses its sessions cannot push out anyone's either: past the cap it is refused.
        var floodRefused = 0
        for _ in 0..<40 {
            let reply = try ControlClient.request(
                endpoint, method: "POST", path: "/mcp",
                headers: [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")],
                body: Array(
                    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}"#
                        .utf8))
            guard let sid = reply.header("Mcp-Session-Id") else {
                #expect(reply.status == 503, "\(reply.text)")
                floodRefused += 1
                continue
            }
            _ = try ControlClient.request(
                endpoint, method: "POST", path: "/mcp",
                headers: [
                    ("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
                    ("Mcp-Session-Id", sid),
                ], body: Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8))
        }
        #expect(floodRefused > 0, "past the cap, a used flood is refused rather than evicting others")
        #expect(try used.call("ping")["result"] != nil, "the used session survived the flood")
        let answer = try await longCall
        #expect(answer.contains("slept"), "\(answer)")
        #expect(try busy.call("ping")["result"] != nil, "the session with a call in flight survived")
        #expect(try gw.json("GET", "/stats").1["sessions"]?.intValue ?? 99 <= 20)
        try await gw.finish()
    }

    /// Issue 8, items 10 and 11: descriptor exhaustion, slow and large bodies, and bodies read before auth.
    @Test("connections beyond the limit are closed at once while the others are served; idle ones time out")
    func connectionLimitAndIdleTimeout() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: ["--listen", "127.0.0.1:0", "--max-connections", "40", "--client-idle-timeout", "4s"],
            marker: m)
        let port = try await gw.tcpPort()
        let first = try TCPConnection(host: "127.0.0.1", port: port)
        defer { first.close() }
        var held: [TCPConnection] = []
        defer { for c in held { c.close() } }
        for _ in 0..<60 { held.append(try TCPConnection(host: "127.0.0.1", port: port)) }
        // The first connection is still served.
        first.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        let answer = try await onThread { String(decoding: first.read(timeout: 3, limit: 10).bytes, as: UTF8.self) }
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        // The ones over the limit are closed by the gateway, not left hanging in its backlog.
        let flood = held
        let closed = try await onThread { flood.filter { $0.read(milliseconds: 30).closed }.count }
        #expect(closed >= 20, "\(closed) of 60 closed")
        #expect(gw.log.components(separatedBy: "connection limit reached").count == 2, "logged once: \(gw.log)")
        // Idle connections are closed after --client-idle-timeout, freeing room for new clients.
        try await eventually("idle connections to be closed", timeout: .seconds(15)) {
            try await onThread { flood.allSatisfy { $0.read(milliseconds: 200).closed } }
        }
        let later = try ControlClient.request(.tcp(host: "127.0.0.1", port: port), method: "GET", path: "/healthz")
        #expect(later.status == 200)
        try await gw.finish()
    }

    @Test("under a 256-descriptor limit, 400 idle connections neither kill the gateway nor stop it serving")
    func descriptorExhaustion() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("fdlimit")
        defer { dir.remove() }
        let config = try dir.write("catalog.yaml", catalog(m, [("a", nil, "")]))
        let log = dir.file("gateway.log")
        let gateway = try gatewayAfter(
            "ulimit -n 256",
            ["--config", config, "--control-socket", dir.file("c.sock"), "--listen", "127.0.0.1:0"], log: log)
        defer { if gateway.isRunning { gateway.terminate() } }
        var port = 0
        try await eventually("the gateway to listen") {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.contains(" listening ") }) else {
                return false
            }
            port = Int(line.split(separator: ":").last?.prefix { $0.isNumber } ?? "") ?? 0
            return port > 0
        }
        var held: [TCPConnection] = []
        for _ in 0..<400 { if let c = try? TCPConnection(host: "127.0.0.1", port: port) { held.append(c) } }
        // The gateway takes connections up to its limit (128 at 256 descriptors) and closes the rest.
        try await eventually("the gateway to hold connections up to its limit") {
            openDescriptors(gateway.processIdentifier).values.filter { $0.hasPrefix("socket:") }.count >= 100
        }
        #expect(gateway.isRunning)
        let client = try MCPTestClient(endpoint: .unix(path: dir.file("c.sock")))
        #expect(try client.tool("a__whoami").contains("a-\(m)"), "a backend still starts under descriptor pressure")
        for c in held { c.close() }
        try await eventually("new TCP clients to be served again") {
            (try? ControlClient.request(.tcp(host: "127.0.0.1", port: port), method: "GET", path: "/healthz"))?
                .status == 200
        }
        #expect(gateway.isRunning)
        gateway.terminate()
        try await eventually("the gateway to exit") { !gateway.isRunning }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(gateway.terminationStatus == 0, "\(text)")
    }

    @Test("at start the soft descriptor limit is raised to the hard one")
    func softLimitRaised() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("softlimit")
        defer { dir.remove() }
        let config = try dir.write("catalog.yaml", catalog(m, [("a", nil, "")]))
        let socket = dir.file("c.sock")
        let gateway = try gatewayAfter(
            "ulimit -S -n 300", ["--config", config, "--control-socket", socket, "--no-listen", "--no-watch"])
        defer { if gateway.isRunning { gateway.terminate() } }
        try await eventually("the gateway to be ready") {
            (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz"))?.status == 200
        }
        let limits = try String(contentsOfFile: "/proc/\(gateway.processIdentifier)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[0] == numbers[1] && numbers[0] > 300, "\(line)")
        gateway.terminate()
        try await eventually("the gateway to exit") { !gateway.isRunning }
    }

    @Test("bodies: refused from the headers before auth, cut off when slow, bounded in total")
    func bodiesAreBounded() async throws {
        let m = marker()
        let keys = try TestKeys()
        defer { keys.dir.remove() }
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: [
                "--listen", "127.0.0.1:0", "--verify-key", keys.publicKeyPath, "--body-timeout", "2s",
                "--max-buffered-bytes", "4194304",
            ], marker: m)
        let port = try await gw.tcpPort()
        let raw = RawHTTP(port: port)
        let me = "127.0.0.1:\(port)"
        // A reload with a junk token is refused from its headers: the 3 MB body it announces is never awaited.
        let junk = try await raw.exchange(
            "POST /admin/reload HTTP/1.1\r\nHost: \(me)\r\nAuthorization: Bearer junk\r\nContent-Length: 3000000\r\n\r\n",
            timeout: 3)
        #expect(junk.status == 401 && junk.closed, "\(junk)")
        // A refused request whose body trickles in is not read on and on: the connection closes with the answer.
        for head in [
            "POST /admin/reload HTTP/1.1\r\nHost: \(me)\r\nAuthorization: Bearer junk\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n",
            "POST /servers/a/stop HTTP/1.1\r\nHost: \(me)\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n",
            "GET /stats HTTP/1.1\r\nHost: \(me)\r\nContent-Length: 100000\r\n\r\nabc",
        ] {
            let r = try await raw.exchange(head, timeout: 5)
            #expect(r.status > 0 && r.closed, "\(head.prefix(30)): \(r)")
        }
        // A body that trickles is cut off after --body-timeout, with 408, and the connection closes.
        let slow = try await raw.exchange(
            "POST /mcp HTTP/1.1\r\nHost: \(me)\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"",
            timeout: 10)
        #expect(slow.status == 408 && slow.closed, "\(slow)")
        // Bodies in flight together are bounded: three 2 MB partial bodies over a 4 MiB budget: one gets 503.
        let mcpHead =
            "POST /mcp HTTP/1.1\r\nHost: \(me)\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 3000000\r\n\r\n"
        var open: [TCPConnection] = []
        defer { for c in open { c.close() } }
        var statuses: [Int] = []
        for _ in 0..<3 {
            let c = try TCPConnection(host: "127.0.0.1", port: port)
            open.append(c)
            c.send(Array(mcpHead.utf8) + [UInt8](repeating: 0x20, count: 2_000_000))
        }
        let partials = open
        statuses = try await onThread {
            partials.map { c in
                let text = String(decoding: c.read(timeout: 3).bytes, as: UTF8.self)
                return Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
        }
        #expect(statuses.contains(503), "\(statuses)")
        // And the gateway still answers.
        let client = try MCPTestClient(endpoint: .tcp(host: "127.0.0.1", port: port))
        #expect(try client.call("ping")["result"] != nil)
        try await gw.finish()
    }

    /// Issue 8, item 5: an empty-body dry run skipped token verification and showed the on-disk catalog's
    /// ids, changes, hash and errors to anyone.
    @Test("a dry run needs the same token as the reload it rehearses, with a body or without one")
    func dryRunNeedsAToken() async throws {
        let m = marker()
        let keys = try TestKeys()
        defer { keys.dir.remove() }
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: ["--verify-key", keys.publicKeyPath, "--listen", "127.0.0.1:0", "--no-watch"], marker: m)
        let port = try await gw.tcpPort()
        // The file on disk changes (not applied: no watcher); a dry run would reveal it.
        let onDisk = catalog(m, [("a", nil, ""), ("secret-name", nil, "")])
        try onDisk.write(toFile: gw.configPath, atomically: true, encoding: .utf8)
        let diskSHA = ContentHash.sha256(Array(onDisk.utf8))
        for endpoint in [ControlEndpoint.tcp(host: "127.0.0.1", port: port), .unix(path: gw.socket)] {
            for (name, headers, status) in [
                ("no token", [(String, String)](), 401), ("junk", [("Authorization", "Bearer junk")], 401),
                ("wrong op", try keys.bearer(op: "server.stop", sha: diskSHA), 403),
                ("wrong hash", try keys.bearer(sha: String(repeating: "0", count: 64)), 403),
            ] {
                for body in [[UInt8](), Array(onDisk.utf8)] {
                    let reply = try ControlClient.request(
                        endpoint, method: "POST", path: "/admin/reload?dry_run=1", headers: headers, body: body)
                    #expect(reply.status == status, "\(endpoint) \(name) body \(body.count): \(reply.text)")
                    #expect(!reply.text.contains("secret-name"), "\(reply.text)")
                    // A validly signed token for other content learns the hash it would need; nobody else does.
                    if status == 401 { #expect(!reply.text.contains(diskSHA), "\(reply.text)") }
                }
            }
        }
        // With the right token, the dry run answers, and changes nothing.
        let allowed = try ControlClient.request(
            .tcp(host: "127.0.0.1", port: port), method: "POST", path: "/admin/reload?dry_run=1",
            headers: try keys.bearer(sha: diskSHA))
        #expect(allowed.status == 200 && allowed.text.contains("secret-name"), "\(allowed.text)")
        #expect(try gw.json("GET", "/stats").1["generation"] == 1)
        try await gw.finish()
    }

    /// Issue 8, item 6: empty-body reloads with a junk token replaced a signed reload waiting in the queue.
    @Test("unauthenticated reloads never enter the queue, so they cannot displace a signed one waiting there")
    func junkCannotDisplaceSignedReloads() async throws {
        let m = marker()
        let keys = try TestKeys()
        defer { keys.dir.remove() }
        // A server whose start takes 2 s: modifying it while it runs makes a reload that holds the queue.
        func slow(_ variant: Int) -> String {
            """
              - id: slow
                runtime:
                  type: local-process
                  command: /bin/sh
                  args: ["-c", "sleep 2; exec \(GatewayProcess.demoServer) --name slow-\(m)-\(variant)"]
            """
        }
        func cat(_ variant: Int, extra: [String] = []) -> String {
            "version: 1\nservers:\n" + slow(variant) + "\n"
                + extra.map { GatewayProcess.demo($0, marker: m) }.joined(separator: "\n")
        }
        let gw = try await GatewayProcess(
            catalog: cat(0), arguments: ["--verify-key", keys.publicKeyPath, "--no-watch"], marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try await onThread { try client.tool("slow__whoami") }
        @Sendable func push(_ text: String) throws -> (Int, JSONValue) {
            try gw.reload(text, headers: try keys.bearer(sha: ContentHash.sha256(Array(text.utf8))))
        }
        let first = cat(1)
        let second = cat(1, extra: ["b"])
        async let holding = onThread { try push(first) }
        try await eventually("the first reload to be warming the slow server") {
            gw.log.contains("slow-\(m)-1") || GatewayProcess.processes(matching: "slow-\(m)-1").count > 0
        }
        async let waiting = onThread { try push(second) }
        try await eventually("the second signed reload to wait in the queue") {
            try gw.request("GET", "/metrics").text.split(separator: "\n")
                .contains { $0.hasPrefix("hotswap_gateway_reloads_coalesced_total ") && !$0.hasSuffix(" 0") }
        }
        // A flood of unauthenticated reloads while the signed one waits: each is refused on its own.
        for _ in 0..<20 {
            let (status, body) = try gw.json(
                "POST", "/admin/reload", headers: [("Authorization", "Bearer junk")])
            #expect(status == 401, "\(body.text)")
        }
        let (s1, r1) = try await holding
        let (s2, r2) = try await waiting
        #expect(s1 == 200 && r1["result"] == "applied", "\(r1.text)")
        #expect(s2 == 200 && r2["result"] == "applied", "\(r2.text)")
        #expect(try gw.json("GET", "/stats").1["config_sha256"]?.stringValue == ContentHash.sha256(Array(second.utf8)))
        try await gw.finish()
    }

    /// Issue 8, item 4: backends inherited the gateway's listeners, client connections, epoll fds and pipes.
    @Test("a spawned server holds none of the gateway's sockets, pipes or event fds: only its stdio")
    func backendsInheritNoDescriptors() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, ""), ("b", nil, "")]), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        // An idle TCP client connection held open while the servers start.
        let port = try await gw.tcpPort()
        let idle = try TCPConnection(host: "127.0.0.1", port: port)
        defer { idle.close() }
        _ = try client.tool("a__whoami")
        _ = try client.tool("b__whoami")
        let gateway = openDescriptors(gw.process.processIdentifier)
        let shared = Set(
            gateway.values.filter { $0.hasPrefix("socket:") || $0.hasPrefix("pipe:") || $0.hasPrefix("anon_inode:") })
        #expect(gateway.values.contains { $0.hasPrefix("socket:") })
        for id in ["a", "b"] {
            let pid = try #require(try gw.pid(id))
            let fds = openDescriptors(pid)
            #expect(fds[0] != nil && fds[1] != nil && fds[2] != nil, "\(id): \(fds)")
            let inherited = fds.filter { $0.key > 2 && shared.contains($0.value) && !$0.value.hasPrefix("anon_inode:") }
            #expect(inherited.isEmpty, "server \(id) (pid \(pid)) holds the gateway's descriptors: \(inherited)")
            // Its stdio are its own pipes, not the gateway's sockets.
            for fd in 0...2 { #expect(fds[fd]?.hasPrefix("pipe:") == true, "\(id) fd \(fd): \(fds[fd] ?? "none")") }
            // Nothing beyond stdio reached it that it did not open itself: no socket at all.
            #expect(!fds.values.contains { $0.hasPrefix("socket:") }, "\(id): \(fds)")
        }
        try await gw.finish()
    }
}

/// Raw HTTP against a gateway's TCP listener, for what a well-behaved client never sends.
struct RawHTTP {
    let port: Int

    /// Sends `head` (and `body`), reads until the gateway closes or `timeout`; the status and whether it closed.
    /// Runs on a thread of its own: the test process's cooperative pool has two threads on this machine, and a
    /// blocking read there would stall every other suite's tasks (and their timing).
    func exchange(_ head: String, body: [UInt8] = [], timeout: Int = 5) async throws -> (
        status: Int, text: String, closed: Bool
    ) {
        let port = self.port
        return try await onThread {
            let c = try TCPConnection(host: "127.0.0.1", port: port)
            defer { c.close() }
            c.send(Array(head.utf8) + body)
            let (bytes, closed) = c.read(timeout: timeout)
            let text = String(decoding: bytes, as: UTF8.self)
            let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            return (status, text, closed)
        }
    }

    static func post(
        _ path: String, host: String, headers: [String] = [], body: String
    ) -> String {
        "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n"
            + headers.map { $0 + "\r\n" }.joined() + "\r\n" + body
    }
}

/// A plain TCP connection, held open by a test.
final class TCPConnection: Sendable {
    let fd: Int32

    init(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw ProcessTestFailure("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
    }

    /// Sends bytes; false when the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads what arrives within `timeout` seconds, until the peer closes (`closed`) or `limit` bytes.
    func read(timeout: Int = 5, limit: Int = 1 << 20) -> (bytes: [UInt8], closed: Bool) {
        read(milliseconds: timeout * 1000, limit: limit)
    }

    func read(milliseconds: Int, limit: Int = 1 << 20) -> (bytes: [UInt8], closed: Bool) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno == ECONNRESET) { return (out, true) }
            if n < 0 { break }
            out += buffer[0..<n]
        }
        return (out, false)
    }

    /// Sends a request head (and a first part of its body) as text.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    func close() { Glibc.close(fd) }
}
