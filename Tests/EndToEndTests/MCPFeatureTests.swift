import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// Prompts, resources, templates, completion and logging through the gateway, checked the only way that
/// matters: the official Python SDK client gets the same answers through the gateway as straight from the
/// server (an SDK-written server over stdio).
@Suite("MCP features through the gateway vs direct (Python SDK)", .serialized)
struct MCPFeatureTests {
    static let server = TestPaths.packageRoot.appendingPathComponent("scripts/interop/feature_server.py").path
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/feature_client.py").path

    func entry(_ id: String, marker: String, python: String = TestPaths.python) -> String {
        """
          - id: \(id)
            prestart: true
            start_timeout: 60s
            runtime:
              type: local-process
              command: \(python)
              args: ["\(Self.server)", "--name", "\(id)", "--\(marker)"]
        """
    }

    func runClient(_ arguments: [String], python: String = TestPaths.python) async throws -> JSONValue {
        let run = try await onThread { try ProcessRunner.run(python, [Self.client] + arguments) }
        #expect(run.status == 0, "\(run)")
        return try JSONValue.parse(run.stdout)
    }

    /// The SDK lines the conformance runs with: each one's client and server, directly and through the gateway.
    static let sdks = ["2.x", "1.x"]

    @Test(
        "one server: every feature answers through the gateway exactly as it does directly (SDK client and server)",
        arguments: sdks)
    func sameAsDirect(sdk: String) async throws {
        let python = sdk == "1.x" ? TestPaths.pythonMCP1 : TestPaths.python
        let m = marker()
        let direct = try await runClient(["--stdio", python, Self.server, "--name", "s"], python: python)
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + entry("s", marker: m, python: python) + "\n",
            arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let url = "http://127.0.0.1:\(try await gw.tcpPort())/mcp"
        let through = try await runClient(["--url", url, "--prefix", "s__"], python: python)
        expectSameFeatures(through, as: direct, server: "s")
        #expect(direct["prompts"]?.arrayValue?.count == 1)
        #expect(direct["missing"] == "error")
        // What a call does on its way, and the server's requests to the client, really happened.
        #expect(direct["progress"]?.arrayValue?.count == 5)
        #expect(direct["ask_model"] == "model said: echo why?")
        #expect(direct["ask_user"] == "accept: teal")
        #expect(direct["roots"] == "file:///work/project")
        try await gw.finish()
    }

    @Test("two servers: prompts merged by prefix, a URI both list served by the first, templates routed")
    func twoServers() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + entry("s", marker: m) + "\n" + entry("t", marker: m) + "\n",
            arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let url = "http://127.0.0.1:\(try await gw.tcpPort())/mcp"
        let out = try await runClient(["--url", url, "--prefix", "t__"])
        let names = (out["prompts"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(names == ["s__greet", "greet"], "t__greet is reported without its prefix: \(names)")
        #expect(out["prompt"] == ["[t] Write a poetic greeting for Ada."], "prompts/get went to t")
        #expect(out["readme"] == ["readme of s"], "memo://readme is the first server's")
        #expect(out["resources"] == ["memo://readme"], "listed once")
        #expect(out["templates"] == ["memo://notes/{topic}"], "the same template listed once")
        #expect(
            out["note"] == ["note on swap from s"], "a templated URI goes to the first server whose template matches")
        #expect(Set((out["loggers"]?.arrayValue ?? []).compactMap(\.stringValue)) == ["t"])
        try await gw.finish()
    }

    @Test("cancellation reaches the server three ways (notifications/cancelled, a closed stream, a closed connection)")
    func cancellation() async throws {
        let m = marker()
        let dir = try TemporaryDirectory()
        let log = dir.path + "/cancel.log"
        let catalog = """
            version: 1
            servers:
              - id: s
                prestart: true
                start_timeout: 60s
                max_concurrency: 1
                runtime:
                  type: local-process
                  command: \(TestPaths.python)
                  args: ["\(Self.server)", "--name", "s", "--cancel-log", "\(log)", "--\(m)"]
            """
        let gw = try await GatewayProcess(catalog: catalog, arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let port = try await gw.tcpPort()
        let url = "http://127.0.0.1:\(port)/mcp"
        func lines(_ word: String) -> Int {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").filter {
                $0 == word
            }.count
        }
        func slotFree() async throws {
            try await eventually("the server's slot to be free") {
                let reply = try? ControlClient.request(.unix(path: gw.socket), method: "GET", path: "/servers/s")
                return reply.flatMap { try? JSONValue.parse($0.body) }?["in_flight"] == 0
            }
        }
        let client = Self.client.replacingOccurrences(of: "feature_client", with: "cancel_client")

        // 1. notifications/cancelled: the stream ends with no response, the server is told.
        let notify = try await onThread { try ProcessRunner.run(TestPaths.python, [client, url, "s__wait", "notify"]) }
        #expect(notify.status == 0, "\(notify)")
        let seen = try #require(try? JSONValue.parse(notify.stdout), "\(notify)")
        #expect(seen["content_type"] == "text/event-stream", "progress made the answer an event stream")
        #expect(seen["progress"]?["progressToken"] == "p-7", "the client's own progress token")
        #expect(seen["event_id"] != .null, "events carry ids")
        #expect(seen["response_after_cancel"] == true, "the stream ends with an error response")
        try await eventually("the server to see the cancellation") { lines("cancelled") == 1 }
        try await slotFree()

        // 2. The client closes the call's event stream.
        let drop = try await onThread { try ProcessRunner.run(TestPaths.python, [client, url, "s__wait", "drop-sse"]) }
        #expect(drop.status == 0, "\(drop)")
        try await eventually("the server to see the closed stream as a cancellation") { lines("cancelled") == 2 }
        try await slotFree()

        // 3. The client closes its connection while the answer would be plain JSON (no progress asked for).
        let session = try MCPTestClient(endpoint: .tcp(host: "127.0.0.1", port: port))
        let body = #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"s__wait","arguments":{}}}"#
        let connection = try TCPConnection(host: "127.0.0.1", port: port)
        connection.send(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Accept: application/json, text/event-stream\r\nMcp-Session-Id: \(session.sessionID ?? "")\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
        try await eventually("the call to start at the server") { lines("started") == 3 }
        connection.close()
        try await eventually("the server to see the closed connection as a cancellation") { lines("cancelled") == 3 }
        try await slotFree()
        // The one slot serves the next call at once.
        #expect(try await onThread { try session.tool("s__shout", ["text": "after"]) } == "AFTER")
        try await gw.finish()
    }

    @Test("a server's request to a client that did not announce the capability fails with a clear reason")
    func refusedWithoutCapability() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + entry("s", marker: m) + "\n", arguments: ["--listen", "127.0.0.1:0"],
            marker: m)
        // MCPTestClient announces no capabilities.
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        let answer = try await onThread {
            try client.call("tools/call", ["name": "s__ask_model", "arguments": ["question": "q"]])
        }
        let text = answer["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue ?? answer.text
        #expect(text.contains("did not announce the 'sampling' capability"), "\(answer)")
        try await gw.finish()
    }
}
