import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

/// `hotswap connect`: the stdio front door a desktop client starts, tried with the Python SDK's stdio client.
@Suite("hotswap connect, the stdio front door (real processes)", .serialized)
struct ConnectTests {
    static let client = TestPaths.packageRoot.appendingPathComponent("scripts/interop/connect_client.py").path
    static let catalog = """
        version: 1
        servers:
          - id: echo
            runtime:
              type: local-process
              command: mcp-demo-server
        """

    @Test("a stdio client gets the gateway's tools through connect, over TCP and over the control socket")
    func relays() async throws {
        let gw = try await GatewayProcess(catalog: Self.catalog, arguments: ["--listen", "127.0.0.1:0"])
        let url = "http://127.0.0.1:\(try await gw.tcpPort())/mcp"
        for target in [[url], ["--socket", gw.socket]] {
            let run = try await onThread {
                try ProcessRunner.run(
                    TestPaths.python, [Self.client, "echo__echo", TestPaths.product("hotswap"), "connect"] + target)
            }
            #expect(run.status == 0, "\(target): \(run)")
            let out = try #require(try? JSONValue.parse(run.stdout), "\(run)")
            #expect(out["server"] == "hotswap", "\(out)")
            #expect(out["tools"]?.arrayValue?.contains("echo__echo") == true, "\(out)")
            #expect(out["before"] == ["before"], "\(out)")
        }
        try await gw.finish()
    }

    @Test("no gateway at all: the client's initialize gets an error that says why, without a storm of retries")
    func noGateway() async throws {
        let gw = try await GatewayProcess(catalog: Self.catalog, arguments: ["--listen", "127.0.0.1:0"])
        let port = try await gw.tcpPort()
        try await gw.finish()  // a port nothing listens on any more
        let run = try await onThread {
            try ProcessRunner.run(
                TestPaths.python,
                [Self.client, "echo__echo", TestPaths.product("hotswap"), "connect", "http://127.0.0.1:\(port)/mcp"])
        }
        #expect(run.status == 0, "\(run)")
        let out = try #require(try? JSONValue.parse(run.stdout), "\(run)")
        let error = out["error"]?.stringValue ?? ""
        #expect(error.contains("cannot reach the gateway") && error.contains("connection refused"), "\(out)")
        // Retries back off (0.2 s doubling to 5 s): a handful of log lines, not thousands.
        #expect(run.stderr.split(separator: "\n").count < 20, "\(run.stderr.prefix(2000))")
    }

    @Test("the gateway restarts: the client's next call works, and it hears that the lists changed")
    func survivesRestart() async throws {
        let first = try await GatewayProcess(catalog: Self.catalog, arguments: ["--listen", "127.0.0.1:0"])
        let port = try await first.tcpPort()
        let dir = try TemporaryDirectory()
        let hotswap = TestPaths.product("hotswap")
        let url = "http://127.0.0.1:\(port)/mcp"
        async let finished = onThread {
            try ProcessRunner.run(
                TestPaths.python, [Self.client, "echo__echo", hotswap, "connect", url, "--pause", dir.path])
        }
        try await eventually("the client's first call") { FileManager.default.fileExists(atPath: dir.file("phase1")) }
        try await first.finish()
        let second = try await GatewayProcess(catalog: Self.catalog, arguments: ["--listen", "127.0.0.1:\(port)"])
        _ = try dir.write("go", "")
        let run = try await finished
        #expect(run.status == 0, "\(run)")
        let out = try #require(try? JSONValue.parse(run.stdout), "\(run)")
        #expect(out["before"] == ["before"] && out["after"] == ["after"], "\(out)")
        #expect(out["list_changed"]?.arrayValue?.contains("notifications/tools/list_changed") == true, "\(out)")
        try await second.finish()
        dir.remove()
    }
}
