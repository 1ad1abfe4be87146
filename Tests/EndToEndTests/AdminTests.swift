import Foundation
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

extension GatewayProcess {
    /// The TCP port the gateway logged when started with `--listen 127.0.0.1:0`.
    func tcpPort() async throws -> Int {
        var port: Int?
        try await eventually("the gateway to log its TCP port") {
            for line in self.log.split(separator: "\n") where line.contains(" listening ") {
                if let last = line.split(separator: ":").last, let p = Int(last.prefix { $0.isNumber }) { port = p }
            }
            return port != nil
        }
        return port!
    }
}

private func token(
    _ key: TokenKey, op: String = "reload", sha: String?, aud: String = "hotswap-gateway", iat: Int64? = nil,
    ttl: Int64 = 60, server: String? = nil
) throws -> String {
    let now = iat ?? ReloadClaims.now()
    let claims = ReloadClaims(
        iss: "tests", aud: [aud], iat: now, exp: now + ttl, jti: hexString(try Crypto.randomBytes(16)), op: op,
        sha256: sha, server: server)
    return try ReloadTokenSigner(key: key).sign(claims)
}

@Suite("Gateway admin API and tokens (real processes)", .serialized)
struct AdminTests {
    @Test(
        "tokens: missing, expired, replayed, wrong audience, wrong op and hash mismatch are refused with their reason")
    func tokens() async throws {
        let m = marker()
        let keys = try TemporaryDirectory("keys")
        defer { keys.remove() }
        let seed = try Crypto.ed25519GenerateSeed()
        try keys.write("ops.key.pem", try Crypto.writePEM(.ed25519Private(seed: seed)))
        try keys.write("ops.pub.pem", try Crypto.writePEM(.ed25519Public(try Crypto.ed25519PublicKey(seed: seed))))
        let key = try TokenKey.load(path: keys.file("ops.key.pem"))
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: ["--verify-key", keys.file("ops.pub.pem"), "--listen", "127.0.0.1:0"], marker: m)
        let next = catalog(m, [("a", nil, ""), ("b", nil, "")])
        let sha = ContentHash.sha256(Array(next.utf8))
        func reload(_ headers: [(String, String)]) throws -> (Int, JSONValue) { try gw.reload(next, headers: headers) }
        func bearer(_ t: String) -> [(String, String)] { [("Authorization", "Bearer \(t)")] }

        let cases: [(String, [(String, String)], Int, String)] = [
            ("missing", [], 401, "missing"),
            ("expired", bearer(try token(key, sha: sha, iat: ReloadClaims.now() - 600)), 401, "expired"),
            ("wrong audience", bearer(try token(key, sha: sha, aud: "other")), 403, "wrong_audience"),
            ("wrong op", bearer(try token(key, op: "server.stop", sha: sha)), 403, "wrong_op"),
            ("hash mismatch", bearer(try token(key, sha: String(repeating: "0", count: 64))), 403, "hash_mismatch"),
            ("garbage", bearer("not.a.token"), 401, "malformed"),
        ]
        for (name, headers, status, reason) in cases {
            let (s, body) = try reload(headers)
            #expect(s == status, "\(name): \(body.text)")
            #expect(body["reason"]?.stringValue == reason, "\(name): \(body.text)")
        }
        #expect(try gw.json("GET", "/stats").1["generation"] == 1, "nothing was applied")

        let good = try token(key, sha: sha)
        let (s1, applied) = try reload(bearer(good))
        #expect(s1 == 200 && applied["result"] == "applied", "\(applied.text)")
        let (s2, replay) = try reload(bearer(good))
        #expect(s2 == 403 && replay["reason"] == "replayed", "\(replay.text)")

        // With keys, TCP takes tokens too.
        let port = try await gw.tcpPort()
        let third = catalog(m, [("b", nil, "")])
        let tcp = try ControlClient.request(
            .tcp(host: "127.0.0.1", port: port), method: "POST", path: "/admin/reload",
            headers: bearer(try token(key, sha: ContentHash.sha256(Array(third.utf8)))), body: Array(third.utf8))
        #expect(tcp.status == 200, "\(tcp.text)")

        // Server operations need a token naming the server.
        let (s3, stopped) = try gw.json(
            "POST", "/servers/b/stop", headers: bearer(try token(key, op: "server.stop", sha: nil, server: "b")))
        #expect(s3 == 200 && stopped["state"] == "stopped", "\(stopped.text)")
        let (s4, wrong) = try gw.json(
            "POST", "/servers/b/start", headers: bearer(try token(key, op: "server.start", sha: nil, server: "a")))
        #expect(s4 == 403 && wrong["reason"] == "wrong_op", "\(wrong.text)")
        try await gw.finish()
    }

    @Test("the control socket is 0600; without keys TCP refuses mutations and the socket accepts its own uid")
    func socketAndNoKeys() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let attributes = try FileManager.default.attributesOfItem(atPath: gw.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let port = try await gw.tcpPort()
        let body = Array(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8)
        let tcp = try ControlClient.request(
            .tcp(host: "127.0.0.1", port: port), method: "POST", path: "/admin/reload", body: body)
        #expect(tcp.status == 403, "\(tcp.text)")
        #expect(tcp.text.contains("no_verify_key"))
        // Reads work on TCP.
        let stats = try ControlClient.request(.tcp(host: "127.0.0.1", port: port), method: "GET", path: "/stats")
        #expect(stats.status == 200)
        let (status, _) = try gw.json("POST", "/admin/reload", body: body)
        #expect(status == 200)
        // A second gateway on the same address says so and exits 2, leaving no child behind.
        let second = try await onThread {
            try ProcessRunner.hotswap([
                "gateway", "--config", gw.configPath, "--control-socket", gw.dir.file("second.sock"), "--no-watch",
                "--listen", "127.0.0.1:\(port)",
            ])
        }
        #expect(second.status == 2, "\(second)")
        #expect(second.stderr.contains("the address is already in use"), "\(second)")
        try await gw.finish()
    }

    @Test("every admin route answers with its JSON body")
    func routes() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, ""), ("b", nil, "    prestart: true")]), marker: m)
        #expect(try gw.json("GET", "/healthz") == (200, ["status": "ok"]))
        #expect(try gw.json("GET", "/readyz").0 == 200)
        let (_, stats) = try gw.json("GET", "/stats")
        #expect(stats["generation"] == 1)
        #expect(stats["config_sha256"]?.stringValue?.count == 64)
        #expect(stats["last_reload"]?["source"] == "startup")
        #expect(stats["last_reload"]?["result"] == "applied")
        #expect(stats["ready"] == true)
        let (_, servers) = try gw.json("GET", "/servers")
        let list = try #require(servers["servers"]?.arrayValue)
        #expect(list.map { $0["id"] } == ["a", "b"])
        #expect(list[0]["state"] == "cold" && list[0]["pid"] == .null)
        #expect(list[1]["state"] == "ready", "prestart: started during the load")
        #expect(list[1]["tools"]?.arrayValue?.contains("whoami") == true)
        #expect(try gw.json("GET", "/servers/nope").0 == 404)
        let (_, dry) = try gw.json("POST", "/admin/reload?dry_run=1", body: Array(catalog(m, [("a", nil, "")]).utf8))
        #expect(dry["result"] == "dry_run" && dry["removed"] == ["b"], "\(dry.text)")
        #expect(try gw.json("GET", "/stats").1["generation"] == 1, "a dry run changes nothing")

        let bPID = try #require(try gw.pid("b"))
        let (s1, restarted) = try gw.json("POST", "/servers/b/restart")
        #expect(s1 == 200 && restarted["state"] == "ready", "\(restarted.text)")
        #expect(restarted["pid"]?.intValue != Int64(bPID))
        let (_, stopped) = try gw.json("POST", "/servers/b/stop")
        #expect(stopped["state"] == "stopped" && stopped["pid"] == .null)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let refused = try client.call("tools/call", ["name": "b__whoami", "arguments": [:]])
        #expect(refused["error"] != nil)
        let (_, started) = try gw.json("POST", "/servers/b/start")
        #expect(started["state"] == "ready")
        #expect(try client.tool("b__whoami").hasPrefix("b-\(m)"))

        let metrics = try gw.request("GET", "/metrics").text
        for series in [
            "hotswap_gateway_generation 1", "hotswap_gateway_config_info{sha256=",
            "hotswap_gateway_reloads_total{result=\"applied\",source=\"startup\"} 1",
            "hotswap_gateway_backends{state=\"ready\"}",
            "hotswap_gateway_requests_total{outcome=\"ok\",server=\"b\"} 1",
            "hotswap_gateway_reload_duration_seconds_bucket", "hotswap_gateway_inflight_requests{server=\"a\"} 0",
        ] {
            #expect(metrics.contains(series), "missing \(series)")
        }
        let tooBig = try gw.request("POST", "/admin/reload", body: [UInt8](repeating: 0x61, count: 5 << 20))
        #expect(tooBig.status == 413)
        try await gw.finish()
    }

    @Test("SIGHUP re-reads --config and verifies the token file against it")
    func sighupWithTokenFile() async throws {
        let m = marker()
        let keys = try TemporaryDirectory("keys")
        defer { keys.remove() }
        try keys.write("hs.secret", "a-shared-secret-of-at-least-32-bytes-for-tests\n")
        let key = try TokenKey.load(path: keys.file("hs.secret"))
        let tokenFile = keys.file("token")
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, "")]),
            arguments: ["--verify-key", keys.file("hs.secret"), "--token-file", tokenFile, "--no-watch"], marker: m)
        let next = catalog(m, [("a", nil, ""), ("b", nil, "")])
        try Data(next.utf8).write(to: URL(fileURLWithPath: gw.configPath))
        // A token for other content is refused.
        try FileIO.writeAtomically(tokenFile, Array(try token(key, sha: String(repeating: "1", count: 64)).utf8))
        gw.signal(SIGHUP)
        try await eventually("the refusal") { try gw.json("GET", "/stats").1["reloads"]?["refused"] == 1 }
        #expect(gw.log.contains("token.reason=hash_mismatch"))
        try FileIO.writeAtomically(tokenFile, Array(try token(key, sha: ContentHash.sha256(Array(next.utf8))).utf8))
        gw.signal(SIGHUP)
        try await eventually("the SIGHUP reload") { try gw.json("GET", "/stats").1["generation"] == 2 }
        try await gw.finish()
    }

    @Test("a crashed server restarts with backoff; stderr lines are logged with the server id")
    func crashRestart() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("c", nil, "")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let first = try client.tool("c__whoami")
        #expect(gw.log.contains("mcp-demo-server c-\(m) started") && gw.log.contains("server.id=c"))
        _ = try? client.call("tools/call", ["name": "c__crash", "arguments": ["code": 7]])
        try await eventually("the crash to be seen") { try gw.json("GET", "/servers/c").1["restarts"] == 1 }
        #expect(gw.log.contains("exited with status 7"))
        try await eventually("the restart after backoff", timeout: .seconds(10)) {
            try gw.json("GET", "/servers/c").1["state"] == "ready"
        }
        let second = try client.tool("c__whoami")
        #expect(second != first)
        try await gw.finish()
    }

    @Test("a server that cannot start is not spawned again on every call")
    func startBackoff() async throws {
        let m = marker()
        let text =
            catalog(m, [("a", nil, "")])
            + "\n  - id: broken\n    runtime: {type: local-process, command: no-such-\(m)}\n"
        let gw = try await GatewayProcess(catalog: text, marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let first = try client.call("tools/call", ["name": "broken__x", "arguments": [:]])
        #expect(first["error"]?["message"]?.stringValue?.contains("command not found") == true, "\(first.text)")
        let second = try client.call("tools/call", ["name": "broken__x", "arguments": [:]])
        #expect(second["error"]?["message"]?.stringValue?.contains("restarting in") == true, "\(second.text)")
        let (_, status) = try gw.json("GET", "/servers/broken")
        #expect(status["state"] == "failed")
        #expect(status["last_error"]?.stringValue?.contains("command not found") == true)
        #expect(try client.tool("a__whoami").hasPrefix("a-\(m)"), "the other server is unaffected")
        try await gw.finish()
    }

    @Test("an idle server stops after idle_ttl and starts again on the next call")
    func idle() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("i", nil, "    idle_ttl: 1s")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        _ = try client.tool("i__whoami")
        let pid = try #require(try gw.pid("i"))
        try await eventually("the idle stop") { try gw.json("GET", "/servers/i").1["state"] == "cold" }
        #expect(!GatewayProcess.isAlive(pid))
        #expect(try client.tool("i__whoami").hasPrefix("i-\(m)"))
        try await gw.finish()
    }

    @Test("a call over request_timeout gets a timeout error, and the server is told to cancel it")
    func requestTimeout() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("t", nil, "    request_timeout: 1s")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let started = ContinuousClock.now
        let response = try await onThread {
            try client.call("tools/call", ["name": "t__sleep", "arguments": ["seconds": 10]])
        }
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(response["error"]?["code"] == -32001, "\(response.text)")
        #expect(response["error"]?["message"]?.stringValue?.contains("did not answer tools/call within") == true)
        // The server is still there and answers the next call.
        #expect(try client.tool("t__whoami").hasPrefix("t-\(m)"))
        let metrics = try gw.request("GET", "/metrics").text
        #expect(metrics.contains("hotswap_gateway_requests_total{outcome=\"timeout\",server=\"t\"} 1"))
        try await gw.finish()
    }

    @Test("GET /mcp streams notifications/tools/list_changed after a swap; DELETE and SIGTERM end the stream")
    func listChanged() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("a", nil, "")]), marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let session = try #require(client.sessionID)
        let first = try await gw.openEventStream(session: session, name: "sse-1.txt")
        let (status, _) = try gw.reload(catalog(m, [("a", nil, ""), ("b", nil, "")]))
        #expect(status == 200)
        try await eventually("list_changed on the stream") {
            first.text.contains(#"data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)
        }
        #expect(try gw.request("DELETE", "/mcp", headers: [("Mcp-Session-Id", session)]).status == 200)
        try await eventually("DELETE to end the stream") { !first.isOpen }
        // A stream left open does not hold up SIGTERM.
        let other = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let second = try await gw.openEventStream(session: try #require(other.sessionID), name: "sse-2.txt")
        let missing = try gw.request("GET", "/mcp", headers: [("Accept", "text/event-stream")])
        #expect(missing.status == 400, "no session header is a bad request")
        try await gw.finish()
        try await eventually("the stream to end with the gateway") { !second.isOpen }
    }

    @Test("tools/list merges and prefixes every server's tools, honouring allow and deny")
    func toolsList() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(
                m,
                [
                    ("a", nil, "    tools: {allow: [echo, whoami]}"),
                    ("b", nil, "    tools: {deny: [crash, sleep, progress, sample]}"),
                ]),
            marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let list = try client.call("tools/list")
        let names = (list["result"]?["tools"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(names == ["a__echo", "a__whoami", "b__echo", "b__fail", "b__whoami"])
        let denied = try client.call("tools/call", ["name": "b__crash", "arguments": [:]])
        #expect(denied["error"]?["message"]?.stringValue?.contains("b__crash") == true)
        let unknown = try client.call("tools/call", ["name": "nope", "arguments": [:]])
        #expect(unknown["error"]?["message"]?.stringValue?.contains("unknown tool 'nope'") == true)
        #expect(try client.call("ping")["result"] == [:])
        try await gw.finish()
    }
}

@Suite("Operator commands against a running gateway", .serialized)
struct OperatorCommandTests {
    @Test("hotswap reload, status, servers and server: output and exit codes")
    func commands() async throws {
        let m = marker()
        let gw = try await GatewayProcess(catalog: catalog(m, [("a", nil, "")]), arguments: ["--no-watch"], marker: m)
        let socket = ["--socket", gw.socket]
        let next = try gw.dir.write("next.yaml", catalog(m, [("a", nil, ""), ("b", nil, "")]))
        let dry = try ProcessRunner.hotswap(["reload", "--dry-run", "--config", next] + socket)
        #expect(dry.status == 0 && dry.stdout.contains("dry_run"), "\(dry)")
        let applied = try ProcessRunner.hotswap(["reload", "--config", next] + socket)
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stdout.contains("applied: generation 2"))
        #expect(applied.stdout.contains("added:     b"))
        // Without --config the gateway re-reads its own file.
        try Data(catalog(m, [("a", nil, ""), ("b", nil, "")]).utf8).write(to: URL(fileURLWithPath: gw.configPath))
        let again = try ProcessRunner.hotswap(["reload", "--format", "json"] + socket)
        #expect(again.status == 0)
        #expect(try JSONValue.parse(again.stdout)["result"] == "unchanged", "\(again)")
        let bad = try gw.dir.write("bad.yaml", "version: 1\nservers:\n  - id: a\n    runtime: {type: remote}\n")
        let rejected = try ProcessRunner.hotswap(["reload", "--config", bad] + socket)
        #expect(rejected.status == 1)
        #expect(rejected.stderr.contains("\(bad):4:14: error: servers[0].runtime.url: missing"), "\(rejected)")
        let status = try ProcessRunner.hotswap(["status"] + socket)
        #expect(status.status == 0 && status.stdout.contains("generation:  2"), "\(status)")
        let servers = try ProcessRunner.hotswap(["servers"] + socket)
        #expect(servers.stdout.contains("a ") && servers.stdout.contains("cold"), "\(servers)")
        let started = try ProcessRunner.hotswap(["server", "start", "b"] + socket)
        #expect(started.status == 0 && started.stdout.contains("state ready"), "\(started)")
        let missing = try ProcessRunner.hotswap(["server", "stop", "nope"] + socket)
        #expect(missing.status == 1)
        let unreachable = try ProcessRunner.hotswap(["status", "--socket", gw.dir.file("none.sock")])
        #expect(unreachable.status == 2)
        #expect(unreachable.stderr.contains("is the gateway running"), "\(unreachable)")
        try await gw.finish()
    }
}
