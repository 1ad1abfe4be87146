import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// Revision 2026-07-28 through the gateway, beside the session-based revisions: the SDK 2.x `Client` pinned to
/// it, on auto, and on legacy, compared with the same client straight to the server; then the transport rules
/// of each revision over raw HTTP.
@Suite("MCP 2026-07-28 and the transport rules of each revision", .serialized)
struct MCPStatelessTests {
    static let server = TestPaths.packageRoot.appendingPathComponent("scripts/interop/feature_server.py").path
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/modern_client.py").path

    func gateway(_ serverArguments: [String] = []) async throws -> (GatewayProcess, Int) {
        let m = marker()
        let extra = serverArguments.map { ", \"\($0)\"" }.joined()
        let catalog = """
            version: 1
            servers:
              - id: s
                prestart: true
                start_timeout: 60s    # a Python server's start on a busy two-core CI machine
                runtime:
                  type: local-process
                  command: \(TestPaths.python)
                  args: ["\(Self.server)", "--name", "s"\(extra), "--\(m)"]
            """
        let gw = try await GatewayProcess(catalog: catalog, arguments: ["--listen", "127.0.0.1:0"], marker: m)
        return (gw, try await gw.tcpPort())
    }

    func run(_ arguments: [String]) async throws -> JSONValue {
        let run = try await onThread { try ProcessRunner.run(TestPaths.python, [Self.client] + arguments) }
        #expect(run.status == 0, "\(run)")
        return try #require(try? JSONValue.parse(run.stdout), "\(run)")
    }

    @Test("the SDK 2.x Client gets the same through the gateway as directly, pinned to 2026-07-28, auto and legacy")
    func sameAsDirect() async throws {
        let direct = try await run(["2026-07-28", "--stdio", TestPaths.python, Self.server, "--name", "s", "--listen"])
        #expect(direct["protocol"] == "2026-07-28")
        // What the comparison rests on really happened: a round trip per server request, progress, a log
        // message, a list change on the listen stream.
        #expect(direct["ask_model"] == "model said: echo why?")
        #expect(direct["ask_user"] == "accept: teal")
        #expect(direct["roots"] == "file:///work/project")
        #expect(direct["progress"]?.arrayValue?.count == 5)
        #expect(direct["logs"] == ["shouting hi"])
        #expect(direct["event"] == ["ResourceUpdated", "ToolsListChanged"])
        let (gw, port) = try await gateway()
        let url = "http://127.0.0.1:\(port)/mcp"
        let pinned = try await run(["2026-07-28", "--url", url, "--prefix", "s__", "--listen"])
        // The one difference: the gateway opens this dual-era server with `initialize`, and the SDK's servers
        // offer resource subscriptions only in 2026-07-28, so through the gateway only the list change comes.
        #expect(direct["subscribed"] == ["memo://readme"])
        #expect(pinned["subscribed"] == [])
        #expect(pinned["event"] == ["ToolsListChanged"])
        expectSame(pinned, as: direct, except: ["subscribed", "event"])
        // A client on auto finds the newest revision; one on legacy gets a session, and the same answers.
        let auto = try await run(["auto", "--url", url, "--prefix", "s__"])
        #expect(auto["protocol"] == "2026-07-28")
        let legacy = try await run(["legacy", "--url", url, "--prefix", "s__"])
        #expect(legacy["protocol"] == "2025-11-25")
        let shared = ["ask_model", "ask_user", "roots", "progress", "count", "prompt", "note", "missing", "tools"]
        expectSame(auto, as: direct, keys: shared, "auto")
        expectSame(legacy, as: direct, keys: shared, "legacy")
        try await gw.finish()
    }

    @Test("a server that speaks only 2026-07-28 behind the gateway: clients of both eras get all it offers")
    func modernOnlyBackend() async throws {
        let direct = try await run([
            "2026-07-28", "--stdio", TestPaths.python, Self.server, "--name", "s", "--modern-only", "--listen",
        ])
        // It really refuses the older revisions: the SDK client on legacy cannot talk to it directly.
        let refused = try await onThread {
            try ProcessRunner.run(
                TestPaths.python, [Self.client, "legacy", "--stdio", TestPaths.python, Self.server, "--modern-only"])
        }
        #expect(refused.status != 0, "\(refused)")
        #expect(direct["ask_model"] == "model said: echo why?")
        #expect(direct["logs"] == ["shouting hi"])
        #expect(direct["event"] == ["ResourceUpdated", "ToolsListChanged"])
        let (gw, port) = try await gateway(["--modern-only"])
        let url = "http://127.0.0.1:\(port)/mcp"
        // A 2026-07-28 client: the server's input_required rounds, its log level, its listen stream and a
        // resource subscription all pass through the gateway's own.
        let pinned = try await run(["2026-07-28", "--url", url, "--prefix", "s__", "--listen"])
        expectSame(pinned, as: direct)
        // A client with a session gets the server's questions as requests on its call's stream, and its log
        // messages after logging/setLevel, as from a server of its own revision.
        let legacy = try await run(["legacy", "--url", url, "--prefix", "s__"])
        #expect(legacy["protocol"] == "2025-11-25")
        expectSame(
            legacy, as: direct,
            keys: [
                "ask_model", "ask_user", "roots", "progress", "count", "prompt", "note", "missing", "tools", "logs",
            ],
            "legacy")
        let servers = try ControlClient.request(.unix(path: gw.socket), method: "GET", path: "/servers/s")
        #expect(try JSONValue.parse(servers.body)["protocol"] == "2026-07-28", "\(servers.body)")
        try await gw.finish()
    }

    /// A raw `POST /mcp` over TCP.
    func post(
        _ port: Int, _ body: JSONValue, headers: [(String, String)] = [],
        accept: String = "application/json, text/event-stream"
    ) throws -> (Int, JSONValue, HTTPReply) {
        let reply = try ControlClient.request(
            .tcp(host: "127.0.0.1", port: port), method: "POST", path: "/mcp",
            headers: [("Content-Type", "application/json"), ("Accept", accept)] + headers, body: body.serialized)
        return (reply.status, (try? MCPTestClient.response(reply)) ?? .null, reply)
    }

    static let envelope: JSONValue = [
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": [:],
    ]

    func modern(_ method: String, _ params: [String: JSONValue] = [:]) -> JSONValue {
        var p = params
        p["_meta"] = Self.envelope
        return ["jsonrpc": "2.0", "id": 1, "method": .string(method), "params": .object(p)]
    }

    @Test("2026-07-28 over raw HTTP: envelope, routing headers, version, removed methods, cache hints, no session")
    func statelessRules() async throws {
        let (gw, port) = try await gateway()
        let v = ("MCP-Protocol-Version", "2026-07-28")
        try await onThread {
            // server/discover: every revision, the capabilities, the gateway's identity, cache hints.
            let (status, discover, _) = try post(
                port, modern("server/discover"), headers: [v, ("Mcp-Method", "server/discover")])
            #expect(status == 200)
            #expect(
                discover["result"]?["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
            #expect(discover["result"]?["resultType"] == "complete")
            #expect(discover["result"]?["capabilities"]?["tools"] != nil)
            #expect(discover["result"]?["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == "hotswap")
            // A list: no session needed, deterministic order, cache hints.
            let (_, list, reply) = try post(port, modern("tools/list"), headers: [v, ("Mcp-Method", "tools/list")])
            #expect(reply.header("Mcp-Session-Id") == nil, "no session is minted")
            #expect(list["result"]?["ttlMs"] == 0)
            #expect(list["result"]?["cacheScope"] == "private")
            #expect(list["result"]?["resultType"] == "complete")
            #expect(list["result"]?["tools"]?.arrayValue?.first?["name"] == "s__shout")
            // The envelope is required.
            var bare = modern("tools/list")
            if case .object(var o) = bare { o["params"] = [:]; bare = .object(o) }
            let (s1, e1, _) = try post(port, bare, headers: [v, ("Mcp-Method", "tools/list")])
            #expect(s1 == 400)
            #expect(e1["error"]?["code"] == -32602)
            // Routing headers are checked against the body.
            let (s2, e2, _) = try post(port, modern("tools/list"), headers: [v])
            #expect(s2 == 400)
            #expect(e2["error"]?["code"] == -32020)
            let call = modern("tools/call", ["name": "s__shout", "arguments": ["text": "x"]])
            let (s3, e3, _) = try post(
                port, call, headers: [v, ("Mcp-Method", "tools/call"), ("Mcp-Name", "s__other")])
            #expect(s3 == 400)
            #expect(e3["error"]?["code"] == -32020)
            let (s4, ok, _) = try post(
                port, call, headers: [v, ("Mcp-Method", "tools/call"), ("Mcp-Name", "s__shout")])
            #expect(s4 == 200)
            #expect(ok["result"]?["content"]?.arrayValue?.first?["text"] == "X")
            // Mcp-Param-*: an argument the tool's schema marks x-mcp-header must come as a header too, encoded
            // when it is not plain ASCII.
            let region = modern(
                "tools/call", ["name": "s__in_region", "arguments": ["region": "eu-wést", "text": "t"]])
            let named = [v, ("Mcp-Method", "tools/call"), ("Mcp-Name", "s__in_region")]
            let (s5, e5, _) = try post(port, region, headers: named)
            #expect(s5 == 400)
            #expect(e5["error"]?["code"] == -32020)
            let encoded = "=?base64?" + Data("eu-wést".utf8).base64EncodedString() + "?="
            let (s6, r6, _) = try post(port, region, headers: named + [("Mcp-Param-Region", encoded)])
            #expect(s6 == 200)
            #expect(r6["result"]?["content"]?.arrayValue?.first?["text"] == "eu-wést: t")
            // An unknown version: -32022 with the supported list.
            var future = modern("tools/list")
            if case .object(var o) = future {
                o["params"] = [
                    "_meta": [
                        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
                        "io.modelcontextprotocol/clientCapabilities": [:],
                    ]
                ]
                future = .object(o)
            }
            let (s7, e7, _) = try post(
                port, future, headers: [("MCP-Protocol-Version", "2099-01-01"), ("Mcp-Method", "tools/list")])
            #expect(s7 == 400)
            #expect(e7["error"]?["code"] == -32022)
            #expect(e7["error"]?["data"]?["supported"]?.arrayValue?.contains("2026-07-28") == true)
            // Methods the revision removed: 404 with -32601.
            for removed in ["ping", "logging/setLevel", "resources/subscribe"] {
                let (s, e, _) = try post(port, modern(removed), headers: [v, ("Mcp-Method", removed)])
                #expect(s == 404, "\(removed)")
                #expect(e["error"]?["code"] == -32601, "\(removed)")
            }
            // A resource nobody has: -32602 (not the retired -32002).
            let read = modern("resources/read", ["uri": "memo://nowhere"])
            let (s8, e8, _) = try post(
                port, read, headers: [v, ("Mcp-Method", "resources/read"), ("Mcp-Name", "memo://nowhere")])
            #expect(s8 == 400)
            #expect(e8["error"]?["code"] == -32602)
            // No session stream and nothing to delete.
            for method in ["GET", "DELETE"] {
                let reply = try ControlClient.request(
                    .tcp(host: "127.0.0.1", port: port), method: method, path: "/mcp",
                    headers: [v, ("Accept", "text/event-stream")])
                #expect(reply.status == 405, "\(method)")
                #expect(reply.header("Allow") == "POST", "\(method)")
            }
        }
        try await gw.finish()
    }

    @Test("2025 revisions over raw HTTP: initialize and its session, versions, Accept, Content-Type, Origin, DELETE")
    func sessionRules() async throws {
        let (gw, port) = try await gateway()
        try await onThread {
            let initialize: JSONValue = [
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": [
                    "protocolVersion": "2025-06-18", "capabilities": [:],
                    "clientInfo": ["name": "raw", "version": "1"],
                ],
            ]
            let (status, answer, reply) = try post(port, initialize)
            #expect(status == 200)
            #expect(
                answer["result"]?["protocolVersion"] == "2025-06-18",
                "the client's revision, when the gateway speaks it")
            let session = try #require(reply.header("Mcp-Session-Id"))
            let list: JSONValue = ["jsonrpc": "2.0", "id": 2, "method": "tools/list"]
            let (s1, _, _) = try post(port, list)
            #expect(s1 == 400, "no session id")
            let (s2, _, _) = try post(port, list, headers: [("Mcp-Session-Id", "unknown")])
            #expect(s2 == 404, "an unknown session: initialize again")
            let (s3, ok, _) = try post(
                port, list, headers: [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-06-18")])
            #expect(s3 == 200)
            #expect(ok["result"]?["tools"]?.arrayValue?.isEmpty == false)
            #expect(ok["result"]?["resultType"] == nil, "no 2026-07-28 fields for a 2025 session")
            let (s4, e4, _) = try post(
                port, list, headers: [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2024-01-01")])
            #expect(s4 == 400)
            #expect(e4["error"]?["code"] == -32022)
            let (s5, _, _) = try post(port, list, headers: [("Mcp-Session-Id", session)], accept: "application/json")
            #expect(s5 == 406, "Accept must take both JSON and an event stream")
            let (s6, _, _) = try post(
                port, list, headers: [("Mcp-Session-Id", session), ("Origin", "https://evil.example")])
            #expect(s6 == 403)
            // A notification and a stray response: 202, no body.
            let (s7, _, r7) = try post(
                port, ["jsonrpc": "2.0", "method": "notifications/initialized"], headers: [("Mcp-Session-Id", session)])
            #expect(s7 == 202)
            #expect(r7.body.isEmpty)
            let wrongType = try ControlClient.request(
                .tcp(host: "127.0.0.1", port: port), method: "POST", path: "/mcp",
                headers: [("Content-Type", "text/plain"), ("Accept", "application/json, text/event-stream")],
                body: list.serialized)
            #expect(wrongType.status == 415)
            let delete = try ControlClient.request(
                .tcp(host: "127.0.0.1", port: port), method: "DELETE", path: "/mcp",
                headers: [("Mcp-Session-Id", session)])
            #expect(delete.status == 200)
            let (s8, _, _) = try post(port, list, headers: [("Mcp-Session-Id", session)])
            #expect(s8 == 404, "a deleted session is gone")
        }
        try await gw.finish()
    }
}
