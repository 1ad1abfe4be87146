import HotswapCore
import Testing

func load(_ text: String, env: [String: String] = [:], dialect: CatalogDialect = .auto) -> CatalogLoadResult {
    CatalogLoader.load(Array(text.utf8), options: CatalogLoadOptions(dialect: dialect, environment: .expand(env)))
}

func catalog(_ text: String, env: [String: String] = [:]) throws -> Catalog {
    let result = load(text, env: env)
    guard let c = result.catalog else {
        throw CatalogTestFailure(diagnostics: result.diagnostics)
    }
    return c
}

struct CatalogTestFailure: Error, CustomStringConvertible {
    var diagnostics: [CatalogDiagnostic]
    var description: String { diagnostics.map { $0.formatted(file: "test") }.joined(separator: "\n") }
}

@Suite("Valid catalogs")
struct CatalogTests {
    @Test("the native format, with defaults inherited and overridden")
    func native() throws {
        let c = try catalog(
            """
            version: 1
            defaults:
              request_timeout: 10s
              drain_timeout: 1m
              idle_ttl: 0
              max_concurrency: 8
            servers:
              - id: time
                description: Time and time zones
                runtime:
                  type: local-process
                  command: mcp-server-time
                  args: ["--local-timezone=UTC"]
                  env: { TZ: UTC, API_KEY: "${TIME_API_KEY}" }
                  working_dir: /srv
                prestart: true
                tools: { allow: [get_current_time] }
              - id: search
                request_timeout: 500ms
                runtime:
                  type: remote
                  url: https://search.internal/mcp
                  headers: { Authorization: "Bearer ${SEARCH_TOKEN}" }
            """, env: ["TIME_API_KEY": "k1", "SEARCH_TOKEN": "t2"])
        #expect(c.servers.map(\.id) == ["time", "search"])
        let time = try #require(c.server("time"))
        #expect(
            time.runtime
                == .localProcess(
                    .init(
                        command: "mcp-server-time", args: ["--local-timezone=UTC"],
                        env: ["TZ": "UTC", "API_KEY": "k1"],
                        workingDir: "/srv")))
        #expect(time.prestart)
        #expect(time.tools.permits("get_current_time") && !time.tools.permits("convert_time"))
        #expect(time.requestTimeout.milliseconds == 10_000)
        #expect(time.drainTimeout.milliseconds == 60_000)
        #expect(time.idleTTL.milliseconds == 0)
        #expect(time.maxConcurrency == 8)
        let search = try #require(c.server("search"))
        #expect(search.requestTimeout.milliseconds == 500)
        #expect(
            search.runtime
                == .remote(.init(url: "https://search.internal/mcp", headers: ["Authorization": "Bearer t2"])))
        #expect(c.marks["search"] == SourceMark(line: 18, column: 5))
    }

    @Test("built-in defaults when there is no defaults block")
    func builtInDefaults() throws {
        let c = try catalog("version: 1\nservers:\n  - id: a\n    runtime: {type: local-process, command: x}\n")
        let a = try #require(c.server("a"))
        #expect(a.requestTimeout.milliseconds == 30_000)
        #expect(a.drainTimeout.milliseconds == 30_000)
        #expect(a.idleTTL.milliseconds == 600_000)
        #expect(a.maxConcurrency == 64)
        #expect(!a.prestart)
    }

    @Test("an explicit empty list of servers is valid")
    func emptyServers() throws {
        #expect(try catalog("version: 1\nservers: []\n").servers.isEmpty)
    }

    @Test("the native format written as JSON")
    func nativeJSON() throws {
        let c = try catalog(
            #"{"version": 1, "servers": [{"id": "a", "runtime": {"type": "local-process", "command": "x", "args": ["--port", 8080]}}]}"#
        )
        #expect(c.server("a")?.runtime == .localProcess(.init(command: "x", args: ["--port", "8080"])))
    }

    @Test("the mcpServers dialect in JSON, as .mcp.json and desktop clients write it")
    func mcpJSON() throws {
        let result = load(
            """
            {
              "mcpServers": {
                "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
                "search": {"type": "http", "url": "https://search.internal/mcp", "headers": {"X-Key": "k"}},
                "git": {"command": "uvx", "args": ["mcp-server-git"], "disabled": true},
                "cline": {"command": "node", "args": ["s.js"], "timeout": 60, "autoApprove": [], "transportType": "stdio"},
                "cursor": {"url": "http://localhost:9000/mcp"}
              },
              "globalShortcut": "Ctrl+Space"
            }
            """)
        #expect(result.dialect == .mcpJSON)
        let c = try #require(result.catalog, "\(result.diagnostics)")
        #expect(c.servers.map(\.id) == ["time", "search", "cline", "cursor"])
        #expect(
            c.server("time")?.runtime
                == .localProcess(.init(command: "uvx", args: ["mcp-server-time"], env: ["TZ": "UTC"])))
        #expect(
            c.server("search")?.runtime == .remote(.init(url: "https://search.internal/mcp", headers: ["X-Key": "k"])))
        #expect(c.server("cline")?.requestTimeout.milliseconds == 60_000)
        #expect(c.server("cursor")?.runtime == .remote(.init(url: "http://localhost:9000/mcp")))
        #expect(result.diagnostics.map(\.severity) == [.warning], "the unknown top-level key is a warning")
        #expect(result.diagnostics.first?.path == "globalShortcut")
    }

    @Test("a legacy HTTP+SSE entry in a pasted config is left out with a warning naming it; the rest is served")
    func legacySSE() throws {
        let result = load(
            """
            {"mcpServers": {
              "old": {"type": "sse", "url": "http://h/sse"},
              "time": {"command": "uvx", "args": ["mcp-server-time"]}
            }}
            """)
        let c = try #require(result.catalog, "\(result.diagnostics)")
        #expect(c.servers.map(\.id) == ["time"])
        #expect(result.diagnostics.map(\.severity) == [.warning])
        #expect(result.diagnostics.first?.path == "mcpServers.old.type")
        #expect(result.diagnostics.first?.message.contains("left out") == true)
    }

    @Test("VS Code's .vscode/mcp.json: `servers` as a map, ${env:VAR}; `inputs` refused with what to do")
    func vscode() throws {
        let source = """
            {
              "servers": {
                "search": {"type": "http", "url": "https://search.internal/mcp",
                           "headers": {"Authorization": "Bearer ${env:SEARCH_TOKEN}"}},
                "time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
              }
            }
            """
        let result = load(source, env: ["SEARCH_TOKEN": "t0k"])
        let c = try #require(result.catalog, "\(result.diagnostics)")
        #expect(c.servers.map(\.id) == ["search", "time"])
        #expect(
            c.server("search")?.runtime
                == .remote(.init(url: "https://search.internal/mcp", headers: ["Authorization": "Bearer t0k"])))
        let withInputs = load(
            """
            {"inputs": [{"type": "promptString", "id": "key"}],
             "servers": {"s": {"command": "x", "env": {"KEY": "${input:key}"}}}}
            """)
        #expect(withInputs.catalog == nil)
        let messages = withInputs.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("VS Code `inputs`") }, "\(messages)")
        #expect(messages.contains { $0.contains("VS Code input") }, "\(messages)")
    }

    @Test("the mcpServers dialect in YAML")
    func mcpYAML() throws {
        let c = try catalog(
            "mcpServers:\n  echo:\n    command: mcp-demo-server\n    args: [--name, echo]\n    cwd: /tmp\n")
        #expect(
            c.server("echo")?.runtime
                == .localProcess(.init(command: "mcp-demo-server", args: ["--name", "echo"], workingDir: "/tmp")))
    }

    @Test("forcing a dialect: a native file read as mcp-json is an error")
    func forcedDialect() {
        let result = load("version: 1\nservers: []\n", dialect: .mcpJSON)
        #expect(result.catalog == nil)
        #expect(result.errors.contains { $0.path == "mcpServers" })
    }

    @Test("${VAR} expansion: fallbacks, $$ escapes, lone dollars, and syntax-only mode")
    func variables() throws {
        let text = """
            version: 1
            servers:
              - id: a
                runtime:
                  type: local-process
                  command: "${BIN:-/usr/bin/x}"
                  args: ["$$HOME", "$PATH", "${EMPTY:-fallback}", "${SET}"]
            """
        let c = try catalog(text, env: ["SET": "v", "EMPTY": ""])
        #expect(
            c.server("a")?.runtime
                == .localProcess(.init(command: "/usr/bin/x", args: ["$HOME", "$PATH", "fallback", "v"])))
        let raw = CatalogLoader.load(Array(text.utf8), options: CatalogLoadOptions(environment: .syntaxOnly))
        #expect(
            raw.catalog?.server("a")?.runtime
                == .localProcess(
                    .init(command: "${BIN:-/usr/bin/x}", args: ["$$HOME", "$PATH", "${EMPTY:-fallback}", "${SET}"])))
    }

    @Test("durations")
    func durations() {
        let cases: [(String, Int64?)] = [
            ("500ms", 500), ("30s", 30_000), ("10m", 600_000), ("1h", 3_600_000), ("1h30m", 5_400_000),
            ("1.5s", 1500), ("45", 45_000), ("0.25", 250), ("0", 0), ("-1", nil), ("-5s", nil), ("5 s", nil),
            ("3d", nil), ("", nil), ("s", nil), ("1e400", nil),
        ]
        for (text, ms) in cases {
            #expect(CatalogDuration.parse(text)?.milliseconds == ms, "\(text)")
        }
        #expect(CatalogDuration(milliseconds: 5_400_000).description == "1h30m")
        #expect(CatalogDuration(milliseconds: 250).description == "250ms")
    }

    @Test("warnings do not make a catalog invalid; errors do")
    func severity() {
        let ok = load("{\"mcpServers\": {}, \"other\": 1}")
        #expect(ok.isValid)
        #expect(ok.catalog?.servers.isEmpty == true)
    }

    @Test("the sha256 is of the exact bytes")
    func hash() {
        let result = load("version: 1\nservers: []\n")
        #expect(result.sha256 == ContentHash.sha256(Array("version: 1\nservers: []\n".utf8)))
        #expect(result.sha256.count == 64)
    }
}
