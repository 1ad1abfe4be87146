import HotswapCore
import Testing

/// One invalid catalog and an error it must produce: where, and a piece of what it says.
struct InvalidCase: CustomTestStringConvertible, Sendable {
    var name: String
    var source: String
    var path: String
    var line: Int
    var column: Int
    var says: String
    var hint: String? = nil

    var testDescription: String { name }
}

private let head = "version: 1\nservers:\n"

/// Shorthand for a catalog with one server whose body follows `  - id: a\n`.
private func server(_ body: String) -> String { head + "  - id: a\n" + body }

let invalidCases: [InvalidCase] = [
    // The document as a whole.
    InvalidCase(name: "empty file", source: "", path: "", line: 1, column: 1, says: "empty"),
    InvalidCase(name: "whitespace only", source: "   \n\n  \n", path: "", line: 1, column: 1, says: "empty"),
    InvalidCase(name: "comment only", source: "# nothing yet\n", path: "", line: 1, column: 1, says: "empty"),
    InvalidCase(name: "null document", source: "~\n", path: "", line: 1, column: 1, says: "empty"),
    InvalidCase(name: "root is a list", source: "- a\n- b\n", path: "", line: 1, column: 1, says: "mapping"),
    InvalidCase(
        name: "two documents", source: head + "  []\n---\nversion: 1\n", path: "", line: 4, column: 1,
        says: "second YAML document"),
    InvalidCase(
        name: "bad indentation", source: "version: 1\nservers:\n  - id: a\n   runtime: x\n", path: "", line: 4,
        column: 4, says: "did not find expected '-' indicator"),
    InvalidCase(
        name: "tab indentation", source: "version: 1\nservers:\n\t- id: a\n", path: "", line: 3, column: 1,
        says: "cannot start any token", hint: "indented with a tab"),
    InvalidCase(
        name: "unclosed flow sequence", source: "version: 1\nservers: [a, b\n", path: "", line: 3, column: 1,
        says: "flow sequence"),
    InvalidCase(
        name: "JSON missing brace", source: "{\"mcpServers\": {\"a\": {\"command\": \"x\"}}\n", path: "", line: 2,
        column: 1, says: "flow mapping"),
    InvalidCase(
        name: "duplicate key", source: server("    runtime: {type: remote, url: 'http://h/mcp'}\n    id: b\n"),
        path: "", line: 5, column: 5, says: "duplicate key 'id'"),
    InvalidCase(
        name: "alias without anchor", source: server("    runtime: *nothing\n"), path: "", line: 4, column: 14,
        says: "no anchor"),
    InvalidCase(
        name: "merge key on a scalar", source: server("    runtime:\n      <<: plain\n"), path: "", line: 5,
        column: 11, says: "merge"),

    // Top level.
    InvalidCase(name: "missing version", source: "servers: []\n", path: "version", line: 1, column: 1, says: "missing"),
    InvalidCase(
        name: "version 2", source: "version: 2\nservers: []\n", path: "version", line: 1, column: 10,
        says: "unsupported version"),
    InvalidCase(
        name: "version quoted", source: "version: \"1\"\nservers: []\n", path: "version", line: 1, column: 10,
        says: "unsupported version the string"),
    InvalidCase(name: "missing servers", source: "version: 1\n", path: "servers", line: 1, column: 1, says: "missing"),
    InvalidCase(
        name: "servers null", source: "version: 1\nservers:\n", path: "servers", line: 2, column: 9, says: "empty"),
    InvalidCase(
        name: "servers is a mapping", source: head + "  id: x\n", path: "servers", line: 3, column: 3,
        says: "expected a list"),
    InvalidCase(
        name: "unknown top-level key", source: "version: 1\nserver: []\n", path: "server", line: 2, column: 1,
        says: "unknown key", hint: "did you mean 'servers'?"),
    InvalidCase(
        name: "defaults not a mapping", source: "version: 1\ndefaults: 30s\nservers: []\n", path: "defaults",
        line: 2, column: 11, says: "mapping"),
    InvalidCase(
        name: "defaults unknown key", source: "version: 1\ndefaults:\n  request_timout: 5s\nservers: []\n",
        path: "defaults.request_timout", line: 3, column: 3, says: "unknown key",
        hint: "did you mean 'request_timeout'?"),

    // Servers.
    InvalidCase(
        name: "server is a string", source: head + "  - just-a-string\n", path: "servers[0]", line: 3, column: 5,
        says: "mapping"),
    InvalidCase(
        name: "missing id", source: head + "  - runtime: {type: remote, url: 'http://h/mcp'}\n",
        path: "servers[0].id", line: 3, column: 5, says: "missing"),
    InvalidCase(
        name: "uppercase id", source: head + "  - id: Time\n    runtime: {type: remote, url: 'http://h/mcp'}\n",
        path: "servers[0].id", line: 3, column: 9, says: "not a valid server id", hint: "try 'time'"),
    InvalidCase(
        name: "underscore id", source: head + "  - id: my_tool\n    runtime: {type: remote, url: 'http://h/mcp'}\n",
        path: "servers[0].id", line: 3, column: 9, says: "not a valid server id", hint: "try 'my-tool'"),
    InvalidCase(
        name: "id too long", source: head + "  - id: \(String(repeating: "a", count: 64))\n", path: "servers[0].id",
        line: 3, column: 9, says: "at most 63"),
    InvalidCase(
        name: "id leading dash", source: head + "  - id: -a\n", path: "servers[0].id", line: 3, column: 9,
        says: "not a valid server id"),
    InvalidCase(
        name: "duplicate id",
        source: head
            + "  - id: a\n    runtime: {type: remote, url: 'http://h/mcp'}\n"
            + "  - id: a\n    runtime: {type: remote, url: 'http://h/mcp'}\n",
        path: "servers[1].id", line: 5, column: 9, says: "duplicate server id 'a' (first defined at line 3)"),
    InvalidCase(
        name: "missing runtime", source: server(""), path: "servers[0].runtime", line: 3, column: 5, says: "missing"),
    InvalidCase(
        name: "unknown server key", source: server("    runtme: {type: remote, url: 'http://h/mcp'}\n"),
        path: "servers[0].runtme", line: 4, column: 5, says: "unknown key", hint: "did you mean 'runtime'?"),
    InvalidCase(
        name: "camelCase server key",
        source: server("    requestTimeout: 5s\n    runtime: {type: remote, url: 'http://h/mcp'}\n"),
        path: "servers[0].requestTimeout", line: 4, column: 5, says: "unknown key",
        hint: "did you mean 'request_timeout'?"),
    InvalidCase(
        name: "description is a list", source: server("    description: [a]\n"), path: "servers[0].description",
        line: 4, column: 18, says: "expected a string"),
    InvalidCase(
        name: "prestart yes", source: server("    prestart: yes\n"), path: "servers[0].prestart", line: 4,
        column: 15, says: "true or false"),

    // Runtime.
    InvalidCase(
        name: "runtime is a string", source: server("    runtime: local-process\n"), path: "servers[0].runtime",
        line: 4, column: 14, says: "mapping"),
    InvalidCase(
        name: "runtime without type", source: server("    runtime: {command: x}\n"), path: "servers[0].runtime.type",
        line: 4, column: 14, says: "missing"),
    InvalidCase(
        name: "unknown runtime type", source: server("    runtime: {type: docker}\n"),
        path: "servers[0].runtime.type", line: 4, column: 21, says: "unknown runtime type 'docker'"),
    InvalidCase(
        name: "runtime type typo", source: server("    runtime: {type: local_process, command: x}\n"),
        path: "servers[0].runtime.type", line: 4, column: 21, says: "unknown runtime type",
        hint: "did you mean 'local-process'?"),
    InvalidCase(
        name: "local process without command", source: server("    runtime:\n      type: local-process\n"),
        path: "servers[0].runtime.command", line: 5, column: 7, says: "missing"),
    InvalidCase(
        name: "empty command", source: server("    runtime: {type: local-process, command: \"\"}\n"),
        path: "servers[0].runtime.command", line: 4, column: 45, says: "must not be empty"),
    InvalidCase(
        name: "command is a list", source: server("    runtime: {type: local-process, command: [uvx, x]}\n"),
        path: "servers[0].runtime.command", line: 4, column: 45, says: "got a list", hint: "`args`"),
    InvalidCase(
        name: "command misspelt",
        source: server("    runtime:\n      type: local-process\n      comand: x\n"),
        path: "servers[0].runtime.comand", line: 6, column: 7, says: "unknown key", hint: "did you mean 'command'?"),
    InvalidCase(
        name: "args is a string", source: server("    runtime: {type: local-process, command: x, args: --v}\n"),
        path: "servers[0].runtime.args", line: 4, column: 54, says: "expected a list"),
    InvalidCase(
        name: "args item is a mapping",
        source: server("    runtime:\n      type: local-process\n      command: x\n      args: [a, {b: c}]\n"),
        path: "servers[0].runtime.args[1]", line: 7, column: 17, says: "expected a string"),
    InvalidCase(
        name: "env is a list",
        source: server("    runtime:\n      type: local-process\n      command: x\n      env: [A=1]\n"),
        path: "servers[0].runtime.env", line: 7, column: 12, says: "got a list", hint: "NAME: value"),
    InvalidCase(
        name: "env value is a mapping",
        source: server("    runtime:\n      type: local-process\n      command: x\n      env:\n        A: {b: c}\n"),
        path: "servers[0].runtime.env.A", line: 8, column: 12, says: "expected a string"),
    InvalidCase(
        name: "env value null",
        source: server("    runtime:\n      type: local-process\n      command: x\n      env:\n        A: ~\n"),
        path: "servers[0].runtime.env.A", line: 8, column: 12, says: "empty"),
    InvalidCase(
        name: "env name with =",
        source: server("    runtime:\n      type: local-process\n      command: x\n      env: {\"A=B\": c}\n"),
        path: "servers[0].runtime.env[\"A=B\"]", line: 7, column: 13, says: "not a valid environment variable name"),
    InvalidCase(
        name: "unset variable",
        source: server(
            "    runtime:\n      type: local-process\n      command: x\n      env: {KEY: \"${HOTSWAP_TEST_UNSET}\"}\n"),
        path: "servers[0].runtime.env.KEY", line: 7, column: 18, says: "HOTSWAP_TEST_UNSET is not set",
        hint: "${HOTSWAP_TEST_UNSET:-default}"),
    InvalidCase(
        name: "unterminated variable",
        source: server("    runtime: {type: local-process, command: \"run ${HOME\"}\n"),
        path: "servers[0].runtime.command", line: 4, column: 45, says: "not closed"),
    InvalidCase(
        name: "bad variable name", source: server("    runtime: {type: local-process, command: \"${1X}\"}\n"),
        path: "servers[0].runtime.command", line: 4, column: 45, says: "not a valid variable reference"),
    InvalidCase(
        name: "empty working_dir", source: server("    runtime: {type: local-process, command: x, working_dir: ''}\n"),
        path: "servers[0].runtime.working_dir", line: 4, column: 61, says: "must not be empty"),
    InvalidCase(
        name: "url in a local process",
        source: server("    runtime: {type: local-process, command: x, url: 'http://h'}\n"),
        path: "servers[0].runtime.url", line: 4, column: 48, says: "does not apply to a local-process runtime"),
    InvalidCase(
        name: "remote without url", source: server("    runtime: {type: remote}\n"), path: "servers[0].runtime.url",
        line: 4, column: 14, says: "missing"),
    InvalidCase(
        name: "remote url not http", source: server("    runtime: {type: remote, url: 'ftp://h/mcp'}\n"),
        path: "servers[0].runtime.url", line: 4, column: 34, says: "not an http:// or https:// URL"),
    InvalidCase(
        name: "remote url without host", source: server("    runtime: {type: remote, url: 'http://'}\n"),
        path: "servers[0].runtime.url", line: 4, column: 34, says: "with a host"),
    InvalidCase(
        name: "command in a remote", source: server("    runtime: {type: remote, url: 'http://h', command: x}\n"),
        path: "servers[0].runtime.command", line: 4, column: 46, says: "does not apply to a remote runtime"),
    InvalidCase(
        name: "headers is a list", source: server("    runtime: {type: remote, url: 'http://h', headers: [a]}\n"),
        path: "servers[0].runtime.headers", line: 4, column: 55, says: "mapping"),
    InvalidCase(
        name: "header name with a space",
        source: server("    runtime: {type: remote, url: 'http://h', headers: {'X Key': v}}\n"),
        path: "servers[0].runtime.headers[\"X Key\"]", line: 4, column: 56, says: "not a valid HTTP header name"),

    // Durations, limits and tools.
    InvalidCase(
        name: "duration with words", source: server("    request_timeout: 30 sec\n"),
        path: "servers[0].request_timeout", line: 4, column: 22, says: "not a duration", hint: "`30s`"),
    InvalidCase(
        name: "negative duration", source: server("    drain_timeout: -5s\n"), path: "servers[0].drain_timeout",
        line: 4, column: 20, says: "cannot be negative"),
    InvalidCase(
        name: "negative bare seconds", source: "version: 1\ndefaults:\n  idle_ttl: -1\nservers: []\n",
        path: "defaults.idle_ttl", line: 3, column: 13, says: "cannot be negative"),
    InvalidCase(
        name: "zero request timeout", source: server("    request_timeout: 0\n"), path: "servers[0].request_timeout",
        line: 4, column: 22, says: "more than zero"),
    InvalidCase(
        name: "unknown duration unit", source: server("    idle_ttl: 3d\n"), path: "servers[0].idle_ttl", line: 4,
        column: 15, says: "not a duration"),
    InvalidCase(
        name: "max_concurrency zero", source: server("    max_concurrency: 0\n"), path: "servers[0].max_concurrency",
        line: 4, column: 22, says: "from 1 to"),
    InvalidCase(
        name: "max_concurrency text", source: server("    max_concurrency: many\n"),
        path: "servers[0].max_concurrency", line: 4, column: 22, says: "from 1 to"),
    InvalidCase(
        name: "tools is a list", source: server("    tools: [a]\n"), path: "servers[0].tools", line: 4, column: 12,
        says: "mapping"),
    InvalidCase(
        name: "tools.allow is a string", source: server("    tools: {allow: get_time}\n"),
        path: "servers[0].tools.allow",
        line: 4, column: 20, says: "expected a list"),
    InvalidCase(
        name: "tools unknown key", source: server("    tools: {only: [a]}\n"), path: "servers[0].tools.only", line: 4,
        column: 13, says: "unknown key"),

    // The mcpServers dialect.
    InvalidCase(
        name: "mcpServers is a list", source: "{\"mcpServers\": [1]}", path: "mcpServers", line: 1, column: 16,
        says: "mapping"),
    InvalidCase(
        name: "mcpServers entry without command",
        source: "{\n  \"mcpServers\": {\n    \"time\": {\"args\": [\"x\"]}\n  }\n}\n", path: "mcpServers.time.command",
        line: 3, column: 13, says: "missing"),
    InvalidCase(
        name: "mcpServers name with a space",
        source: "{\"mcpServers\": {\"My Server\": {\"command\": \"x\"}}}", path: "mcpServers[\"My Server\"]", line: 1,
        column: 17, says: "not a valid server id", hint: "try 'my-server'"),
    InvalidCase(
        name: "mcpServers command and url",
        source: "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"url\": \"http://h\"}}}",
        path: "mcpServers.a", line: 1, column: 22, says: "both `command` and `url`"),
    InvalidCase(
        name: "mcpServers misspelt key", source: "mcpServers:\n  a:\n    comand: x\n", path: "mcpServers.a.comand",
        line: 3, column: 5, says: "unknown key", hint: "did you mean 'command'?"),
    InvalidCase(
        name: "mcpServers next to servers", source: "mcpServers: {}\nservers: []\n", path: "servers", line: 2,
        column: 1, says: "native format"),
]

@Suite("Invalid catalogs")
struct InvalidCatalogTests {
    @Test("each invalid catalog names its path, line and column", arguments: invalidCases)
    func reportsPlace(_ c: InvalidCase) {
        let result = CatalogLoader.load(Array(c.source.utf8), options: CatalogLoadOptions(environment: .expand([:])))
        #expect(result.catalog == nil, "\(c.name) must be rejected")
        // Other errors may come first (a missing key is reported where its mapping starts); the one under
        // test must be there, at its place.
        guard let first = result.errors.first(where: { $0.path == c.path }) else {
            Issue.record("\(c.name): no error at \(c.path); got \(result.errors)")
            return
        }
        #expect(first.path == c.path, "\(c.name): \(first)")
        #expect(
            first.line == c.line && first.column == c.column, "\(c.name): at \(first.line):\(first.column) \(first)")
        #expect(first.message.contains(c.says), "\(c.name): \(first.message)")
        if let hint = c.hint {
            #expect(first.hint?.contains(hint) == true, "\(c.name): hint \(first.hint ?? "none")")
        }
    }

    @Test("there are at least 40 invalid cases")
    func enoughCases() {
        #expect(invalidCases.count >= 40)
    }

    @Test("every error in a file is reported, in source order")
    func reportsEveryError() {
        let source = """
            version: 1
            defaults:
              request_timout: 30s
            servers:
              - id: Time
                runtime:
                  type: local_process
                  comand: x
              - id: ok
                runtime: {type: remote, url: "ftp://x"}
                drain_timeout: -5s
                max_concurrency: 0
              - id: ok
                runtime: {type: local-process, command: "${HOTSWAP_TEST_UNSET}"}
            """
        let result = CatalogLoader.load(Array(source.utf8), options: CatalogLoadOptions(environment: .expand([:])))
        let places = result.errors.map { "\($0.path)@\($0.line):\($0.column)" }
        #expect(
            places == [
                "defaults.request_timout@3:3", "servers[0].id@5:9", "servers[0].runtime.type@7:13",
                "servers[0].runtime.comand@8:7", "servers[1].runtime.url@10:34", "servers[1].drain_timeout@11:20",
                "servers[1].max_concurrency@12:22", "servers[2].id@13:9", "servers[2].runtime.command@14:45",
            ])
    }

    @Test("a diagnostic prints as FILE:LINE:COL: error: PATH: message, then the hint")
    func formatting() {
        let d = CatalogDiagnostic(
            path: "servers[1].runtime", mark: SourceMark(line: 12, column: 7), message: "unknown key 'comand'",
            hint: "did you mean 'command'?")
        #expect(
            d.formatted(file: "catalog.yaml")
                == "catalog.yaml:12:7: error: servers[1].runtime: unknown key 'comand'\n  hint: did you mean 'command'?"
        )
    }
}
