import Foundation
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

    func entry(_ id: String, marker: String) -> String {
        """
          - id: \(id)
            prestart: true
            runtime:
              type: local-process
              command: \(TestPaths.python)
              args: ["\(Self.server)", "--name", "\(id)", "--\(marker)"]
        """
    }

    func runClient(_ arguments: [String]) async throws -> JSONValue {
        let run = try await onThread { try ProcessRunner.run(TestPaths.python, [Self.client] + arguments) }
        #expect(run.status == 0, "\(run)")
        return try JSONValue.parse(run.stdout)
    }

    @Test("one server: every feature answers through the gateway exactly as it does directly")
    func sameAsDirect() async throws {
        let m = marker()
        let direct = try await runClient(["--stdio", TestPaths.python, Self.server, "--name", "s"])
        let gw = try await GatewayProcess(
            catalog: "version: 1\nservers:\n" + entry("s", marker: m) + "\n", arguments: ["--listen", "127.0.0.1:0"],
            marker: m)
        let url = "http://127.0.0.1:\(try await gw.tcpPort())/mcp"
        var through = try await runClient(["--url", url, "--prefix", "s__"])
        // The one intended difference: a log message names the server it came from.
        #expect(through["loggers"] == ["s"])
        #expect(direct["loggers"] == [.null])
        guard case .object(var object) = through else { return }
        object["loggers"] = direct["loggers"]
        through = .object(object)
        for key in direct.objectValue?.keys.sorted() ?? [] {
            #expect(
                through[key] == direct[key],
                "\(key): through the gateway \(through[key] ?? .null), direct \(direct[key] ?? .null)")
        }
        #expect(direct["prompts"]?.arrayValue?.count == 1)
        #expect(direct["missing"] == "error")
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
}
