import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// Remote servers (`runtime.type: remote`): MCP servers written with the Python SDK, served over Streamable
/// HTTP on loopback, behind a real gateway process.
@Suite("Remote backends over Streamable HTTP (real processes)", .serialized)
struct RemoteBackendTests {
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/feature_client.py").path

    func catalog(_ url: String, marker: String, extra: String = "", prestart: Bool = true) -> String {
        """
        version: 1
        servers:
          - id: r
            prestart: \(prestart)
            runtime:
              type: remote
              url: \(url)
        \(extra)
        """
    }

    func runClient(_ arguments: [String], python: String) async throws -> JSONValue {
        let run = try await onThread { try ProcessRunner.run(python, [Self.client] + arguments) }
        #expect(run.status == 0, "\(run)")
        return try #require(try? JSONValue.parse(run.stdout), "\(run)")
    }

    @Test(
        "a remote server with a bearer token from the environment: every feature as from the same server direct",
        arguments: ["2.x", "1.x"])
    func everyFeature(sdk: String) async throws {
        let python = sdk == "1.x" ? TestPaths.pythonMCP1 : TestPaths.python
        let m = marker()
        let dir = try TemporaryDirectory()
        let port = Int.random(in: 1000...9999)  // a token that does not carry the gateway's marker
        let server = try await RemoteServerProcess(
            name: "r", python: python, token: "s3cret-\(port)", marker: marker(), directory: dir)
        let direct = try await runClient(
            ["--stdio", python, RemoteServerProcess.script, "--name", "r"], python: python)
        let extra = """
                  headers:
                    Authorization: "Bearer ${REMOTE_TOKEN}"
            """
        let gw = try await GatewayProcess(
            catalog: catalog("http://127.0.0.1:\(server.port)/mcp", marker: m, extra: extra),
            arguments: ["--listen", "127.0.0.1:0"], environment: ["REMOTE_TOKEN": "s3cret-\(port)"], marker: m)
        let url = "http://127.0.0.1:\(try await gw.tcpPort())/mcp"
        let through = try await runClient(["--url", url, "--prefix", "r__"], python: python)
        expectSameFeatures(through, as: direct, server: "r")
        #expect(direct["ask_model"] == "model said: echo why?")
        #expect(direct["progress"]?.arrayValue?.count == 5)
        let report = try JSONValue.parse(
            try ControlClient.request(.unix(path: gw.socket), method: "GET", path: "/servers/r").body)
        #expect(report["runtime"] == "remote" && report["pid"] == .null && report["state"] == "ready", "\(report)")
        try await gw.finish()
        // Stopping the gateway ended the server's session (DELETE).
        try await eventually("the server to see the session end") { server.log.contains("Terminating session") }
        try await server.stop()
    }

    @Test("a wrong token is a clear 401, not a crash loop")
    func unauthorized() async throws {
        let m = marker()
        let dir = try TemporaryDirectory()
        let server = try await RemoteServerProcess(name: "r", token: "right", marker: marker(), directory: dir)
        let extra = """
                  headers:
                    Authorization: "Bearer wrong"
            """
        let gw = try await GatewayProcess(
            catalog: catalog("http://127.0.0.1:\(server.port)/mcp", marker: m, extra: extra, prestart: false),
            arguments: ["--listen", "127.0.0.1:0"], marker: m)
        // (With `prestart: true` the reload that brings it in is rolled back, with the same message.)
        let session = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let answer = try await onThread { try session.call("tools/call", ["name": "r__shout", "arguments": [:]]) }
        #expect(answer.text.contains("HTTP 401"), "\(answer.text)")
        let report = try JSONValue.parse(
            try ControlClient.request(.unix(path: gw.socket), method: "GET", path: "/servers/r").body)
        let why = report["last_error"]?.stringValue ?? ""
        #expect(why.contains("bearer token") && !why.contains("crash") && !why.contains("process"), "\(why)")
        try await gw.finish()
        try await server.stop()
    }

    @Test("TLS with a CA from tls.ca_file or --ca-file; without either, a TLS error that says what to do")
    func tls() async throws {
        let m = marker()
        let dir = try TemporaryDirectory()
        let cert = dir.file("cert.pem")
        let key = dir.file("key.pem")
        let made = try await onThread {
            try ProcessRunner.run(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                ])
        }
        #expect(made.status == 0, "\(made)")
        let server = try await RemoteServerProcess(name: "r", tls: (cert, key), marker: marker(), directory: dir)
        let url = "https://127.0.0.1:\(server.port)/mcp"
        let trusted = """
                  tls:
                    ca_file: \(cert)
            """
        let gw = try await GatewayProcess(
            catalog: catalog(url, marker: m, extra: trusted), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let session = try MCPTestClient(endpoint: .tcp(host: "127.0.0.1", port: try await gw.tcpPort()))
        #expect(try await onThread { try session.tool("r__shout", ["text": "over tls"]) } == "OVER TLS")
        try await gw.finish()

        // The same trust from the gateway's command line, for every remote.
        let flagged = try await GatewayProcess(
            catalog: catalog(url, marker: m), arguments: ["--listen", "127.0.0.1:0", "--ca-file", cert], marker: m)
        let viaFlag = try MCPTestClient(endpoint: .unix(path: flagged.socket))
        #expect(try await onThread { try viaFlag.tool("r__shout", ["text": "ca flag"]) } == "CA FLAG")
        try await flagged.finish()

        let untrusted = try await GatewayProcess(
            catalog: catalog(url, marker: m, prestart: false), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let refused = try MCPTestClient(endpoint: .unix(path: untrusted.socket))
        let answer = try await onThread { try refused.call("tools/call", ["name": "r__shout", "arguments": [:]]) }
        #expect(answer.text.contains("TLS failed") && answer.text.contains("tls.ca_file"), "\(answer.text)")
        try await untrusted.finish()
        try await server.stop()
    }

    @Test("a changed URL is a warm swap; a server that goes down says so, and is used again when it is back")
    func swapDownAndBack() async throws {
        let m = marker()
        let dir = try TemporaryDirectory()
        let a = try await RemoteServerProcess(name: "a", marker: marker(), directory: dir)
        let b = try await RemoteServerProcess(name: "b", marker: marker(), directory: dir)
        let gw = try await GatewayProcess(
            catalog: catalog("http://127.0.0.1:\(a.port)/mcp", marker: m), arguments: ["--listen", "127.0.0.1:0"],
            marker: m)
        let session = try MCPTestClient(endpoint: .tcp(host: "127.0.0.1", port: try await gw.tcpPort()))
        @Sendable func readme() throws -> String {
            let answer = try session.call("resources/read", ["uri": "memo://readme"])
            return answer["result"]?["contents"]?.arrayValue?.first?["text"]?.stringValue ?? answer.text
        }
        #expect(try await onThread { try readme() } == "readme of a")

        // Point the catalog at b: modified, warmed before the swap, then served by b.
        let (status, report) = try gw.reload(catalog("http://127.0.0.1:\(b.port)/mcp", marker: m))
        #expect(status == 200 && report["result"] == "applied" && report["modified"] == ["r"], "\(report)")
        #expect(try await onThread { try readme() } == "readme of b")
        try await eventually("a's session to end once it drained") { a.log.contains("Terminating session") }

        // b goes down: the call says what failed, and so does the server's state.
        try await b.stop()
        let down = try await onThread { try session.call("resources/read", ["uri": "memo://readme"]) }
        #expect(down.text.contains("connection refused"), "\(down.text)")
        let state = try JSONValue.parse(
            try ControlClient.request(.unix(path: gw.socket), method: "GET", path: "/servers/r").body)
        #expect(state["last_error"]?.stringValue?.contains("connection refused") == true, "\(state)")
        let why = state["last_error"]?.stringValue ?? ""
        #expect(!why.contains("process"), "\(state)")

        // It comes back on the same port: a new session, and calls work again.
        try await b.restart()
        try await eventually("calls to work again") { (try? await onThread { try readme() }) == "readme of b" }
        try await gw.finish()
        try await a.stop()
        try await b.stop()
    }
}
