import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

/// The gateway between implementations nobody here wrote: the official MCP Python SDK as the client and the
/// reference `mcp-server-time` as a backend, next to the demo server.
@Suite("MCP interop: Python SDK client, mcp-server-time backend", .serialized)
struct MCPInteropTests {
    @Test("the MCP Python SDK initializes, lists and calls tools through the gateway, across a reload")
    func pythonSDK() async throws {
        let m = marker()
        let venv = URL(fileURLWithPath: TestPaths.python).deletingLastPathComponent()
        let timeServer = venv.appendingPathComponent("mcp-server-time").path
        guard FileManager.default.isExecutableFile(atPath: timeServer) else {
            throw ProcessTestFailure("\(timeServer) is missing: run scripts/test, which installs it into .venv")
        }
        let timeEntry = """
              - id: time
                start_timeout: 60s    # a Python server's start on a busy two-core CI machine
                runtime:
                  type: local-process
                  command: \(timeServer)
                  args: ["--local-timezone=UTC", "--\(m)"]
            """
        // mcp-server-time rejects unknown flags; keep the marker out of its arguments.
        let entry = timeEntry.replacingOccurrences(of: ", \"--\(m)\"", with: "")
        let text = catalog(m, [("echo", nil, "")]) + "\n" + entry + "\n"
        let gw = try await GatewayProcess(catalog: text, arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let port = try await gw.tcpPort()
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/interop/mcp_client.py").path
        let url = "http://127.0.0.1:\(port)/mcp"
        let run = try await onThread {
            try ProcessRunner.run(
                TestPaths.python,
                [
                    // tools/list answers with the servers that are ready within a bound; mcp-server-time takes
                    // a second or two to boot, and arrives with list_changed, so list until it is there.
                    script, url, "--wait-for", "echo__whoami,time__get_current_time", "echo__echo",
                    #"{"text": "through the gateway"}"#, "time__get_current_time",
                    #"{"timezone": "UTC"}"#,
                ])
        }
        #expect(run.status == 0, "\(run)")
        let out = try JSONValue.parse(run.stdout)
        #expect(out["server"] == "hotswap")
        let tools = (out["tools"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(
            tools.contains("echo__whoami") && tools.contains("time__get_current_time")
                && tools.contains("time__convert_time"))
        let calls = out["calls"]?.arrayValue ?? []
        #expect(calls.first?["text"] == "through the gateway")
        #expect(calls.last?["text"]?.stringValue?.contains("\"timezone\": \"UTC\"") == true)

        // Remove the time server; the SDK sees the tool set change on its next session.
        let (status, _) = try gw.reload(catalog(m, [("echo", nil, "")]))
        #expect(status == 200)
        let after = try await onThread { try ProcessRunner.run(TestPaths.python, [script, url]) }
        let toolsAfter = (try JSONValue.parse(after.stdout)["tools"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(!toolsAfter.contains { $0.hasPrefix("time__") } && toolsAfter.contains("echo__echo"), "\(after)")
        try await gw.finish()
        try await eventually("mcp-server-time to be stopped") {
            GatewayProcess.processes(matching: timeServer).isEmpty
        }
    }
}

/// The reference servers nobody here wrote, each compared with itself: the SDK client gets the same tools,
/// prompts, resources and answers through the gateway as straight from the server.
@Suite("MCP interop: mcp-server-git and mcp-server-fetch through the gateway vs direct", .serialized)
struct ReferenceServerTests {
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/reference_client.py").path

    func reference(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: TestPaths.python).deletingLastPathComponent()
            .appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ProcessTestFailure("\(path) is missing: run scripts/test, which installs it into .venv")
        }
        return path
    }

    func runClient(_ arguments: [String]) async throws -> JSONValue {
        let run = try await onThread { try ProcessRunner.run(TestPaths.python, [Self.client] + arguments) }
        #expect(run.status == 0, "\(run)")
        return try JSONValue.parse(run.stdout)
    }

    /// Starts the gateway with `server` (command and arguments) as `id`, then compares both answers.
    /// `command` carries the marker `m` in an argument the server accepts (it refuses unknown flags), so
    /// `finish()` can see the server gone.
    func compare(id: String, marker m: String, command: [String], steps: (Int) -> [String]) async throws -> JSONValue {
        let args = command.dropFirst().map { "\"\($0)\"" }.joined(separator: ", ")
        let text = """
            version: 1
            servers:
              - id: \(id)
                prestart: true
                start_timeout: 60s
                runtime:
                  type: local-process
                  command: \(command[0])
                  args: [\(args)]

            """
        let gw = try await GatewayProcess(catalog: text, arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let port = try await gw.tcpPort()
        let direct = try await runClient(["--stdio"] + command + ["--"] + steps(port))
        let through = try await runClient(
            ["--url", "http://127.0.0.1:\(port)/mcp", "--prefix", "\(id)__"] + steps(port))
        expectSame(through, as: direct)
        try await gw.finish()
        return direct
    }

    @Test("mcp-server-git: its twelve tools and their answers on a real repository")
    func git() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("hotswap-git-\(m)")
        defer { dir.remove() }
        let repo = dir.url
        for command in [
            ["init", "-q"],
            [
                "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q",
                "--allow-empty", "-m", "first",
            ],
        ] {
            let run = try ProcessRunner.run("/usr/bin/git", ["-C", repo.path] + command)
            #expect(run.status == 0, "\(run)")
        }
        let direct = try await compare(
            id: "git", marker: m, command: [try reference("mcp-server-git"), "--repository", repo.path]
        ) { _ in
            [
                #"tool:git_status:{"repo_path":"\#(repo.path)"}"#,
                #"tool:git_log:{"repo_path":"\#(repo.path)","max_count":1}"#,
                #"tool:git_show:{"repo_path":"\#(repo.path)","revision":"no-such-revision"}"#,
            ]
        }
        #expect(direct["tools"]?.arrayValue?.count ?? 0 >= 10)
        let results = direct["results"]?.arrayValue ?? []
        #expect(results.first?["text"]?.stringValue?.contains("working tree clean") == true, "\(results)")
        #expect(results.dropFirst().first?["text"]?.stringValue?.contains("Message: first") == true, "\(results)")
        #expect(results.last?["error"] == true || results.last?["raised"] != nil, "\(results)")
    }

    @Test("mcp-server-fetch: its prompt and its tool, fetching a page over loopback")
    func fetch() async throws {
        let m = marker()
        let direct = try await compare(
            id: "fetch", marker: m,
            command: [
                try reference("mcp-server-fetch"), "--ignore-robots-txt", "--allow-private-ips",
                "--user-agent=test-\(m)",
            ]
        ) { port in
            [
                #"prompt:fetch:{"url":"http://127.0.0.1:\#(port)/healthz"}"#,
                #"tool:fetch:{"url":"http://127.0.0.1:\#(port)/healthz","max_length":500}"#,
            ]
        }
        #expect(direct["prompts"]?.arrayValue?.first?["name"] == "fetch")
        let results = direct["results"]?.arrayValue ?? []
        let prompt = results.first?["messages"]?.arrayValue?.compactMap(\.stringValue).joined() ?? ""
        #expect(prompt.contains(#""status""#) && prompt.contains("ok"), "\(results)")
        #expect(results.last?["text"]?.stringValue?.contains("ok") == true, "\(results)")
    }
}
