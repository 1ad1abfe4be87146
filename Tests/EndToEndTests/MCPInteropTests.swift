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
