import Foundation
import HotswapCore
import Testing

/// A one-server catalog whose server body is `body` (indented under `  - id: a`).
private func one(_ body: String, defaults: String = "") -> String {
    "version: 1\n\(defaults)servers:\n  - id: a\n" + body
}

private let base = """
        runtime:
          type: local-process
          command: srv
          args: [--x, "1"]
          env: {A: "1", B: "2"}
          working_dir: /srv
        tools: {allow: [t1, t2]}

    """

private let remoteBase = "    runtime: {type: remote, url: 'https://h/mcp', headers: {K: v}}\n"

private let singleFieldChanges: [(String, String)] = [
    (base.replacingOccurrences("B: \"2\"", "B: \"3\""), "runtime.env.B"),
    (base.replacingOccurrences("B: \"2\"", "B: \"2\", C: \"\""), "runtime.env.C"),
    (base.replacingOccurrences("[--x, \"1\"]", "[--x, \"2\"]"), "runtime.args"),
    (base.replacingOccurrences("[--x, \"1\"]", "[\"1\", --x]"), "runtime.args"),
    (base.replacingOccurrences("command: srv", "command: srv2"), "runtime.command"),
    (base.replacingOccurrences("working_dir: /srv", "working_dir: /tmp"), "runtime.working_dir"),
    (base.replacingOccurrences("allow: [t1, t2]", "allow: [t1]"), "tools.allow"),
    (base.replacingOccurrences("allow: [t1, t2]", "allow: [t1, t2], deny: [t2]"), "tools.deny"),
    (base + "    request_timeout: 5s\n", "request_timeout"),
    (base + "    drain_timeout: 5s\n", "drain_timeout"),
    (base + "    idle_ttl: 0\n", "idle_ttl"),
    (base + "    max_concurrency: 1\n", "max_concurrency"),
    (base + "    prestart: true\n", "prestart"),
    (base + "    description: now described\n", "description"),
]

@Suite("Catalog diff")
struct CatalogDiffTests {
    private func diff(_ old: String, _ new: String, env: [String: String] = [:]) throws -> CatalogDiff {
        CatalogDiff(from: try catalog(old, env: env), to: try catalog(new, env: env))
    }

    @Test(
        "a change in any single field is reported as modified, with its path",
        arguments: singleFieldChanges)
    func singleField(_ changed: String, _ path: String) throws {
        let d = try diff(one(base), one(changed))
        #expect(d.modified == [CatalogDiff.Modification(id: "a", changed: [path])])
        #expect(d.unchanged.isEmpty && d.added.isEmpty && d.removed.isEmpty)
    }

    @Test(
        "remote fields: url and headers",
        arguments: [
            (remoteBase.replacingOccurrences("K: v", "K: w"), "headers.K"),
            (remoteBase.replacingOccurrences("https://h/mcp", "https://h2/mcp"), "url"),
        ])
    func remoteFields(_ changed: String, _ path: String) throws {
        let d = try diff(one(remoteBase), one(changed))
        #expect(d.modified == [CatalogDiff.Modification(id: "a", changed: ["runtime." + path])])
    }

    @Test("switching runtime type names every field that changed")
    func runtimeType() throws {
        let d = try diff(one(base), one(remoteBase))
        let changed = try #require(d.modified.first?.changed)
        #expect(
            changed.contains("runtime.type") && changed.contains("runtime.url") && changed.contains("runtime.command"))
    }

    @Test("an expanded variable whose value changed is a modification")
    func variableValue() throws {
        let text = one("    runtime: {type: local-process, command: x, env: {K: \"${KEY}\"}}\n")
        let d = CatalogDiff(from: try catalog(text, env: ["KEY": "1"]), to: try catalog(text, env: ["KEY": "2"]))
        #expect(d.modified.first?.changed == ["runtime.env.K"])
    }

    @Test(
        "semantically equal rewrites are unchanged",
        arguments: [
            // Reordered keys at every level.
            """
                tools: {allow: [t2, t1]}
                runtime:
                  working_dir: /srv
                  env: {B: "2", A: "1"}
                  args: [--x, "1"]
                  command: srv
                  type: local-process

            """,
            // Defaults written out.
            base
                + "    request_timeout: 30s\n    drain_timeout: 30000ms\n    idle_ttl: 10m\n    max_concurrency: 64\n    prestart: false\n",
            // Flow vs block style, quoting, and JSON-style args.
            """
                runtime: {"type": "local-process", "command": 'srv', "args": ["--x", 1], "env": {"A": 1, "B": 2}, "working_dir": "/srv"}
                tools:
                  allow:
                    - t1
                    - t2
                    - t1

            """,
        ])
    func equalRewrites(_ rewrite: String) throws {
        let d = try diff(one(base), one(rewrite))
        #expect(d.unchanged == ["a"], "\(d)")
        #expect(d.modified.isEmpty)
    }

    @Test("{} and absent are the same; an empty description is absent")
    func emptyVersusAbsent() throws {
        let bare = one("    runtime: {type: local-process, command: x}\n")
        let explicit = one(
            "    description: \"\"\n    runtime: {type: local-process, command: x, args: [], env: {}}\n    tools: {}\n")
        let d = try diff(bare, explicit)
        #expect(d.unchanged == ["a"], "\(d)")
    }

    @Test("a default changed in the defaults block modifies every server that inherits it")
    func defaultsBlock() throws {
        let old =
            "version: 1\nservers:\n  - id: a\n    runtime: {type: local-process, command: x}\n  - id: b\n    request_timeout: 5s\n    runtime: {type: local-process, command: y}\n"
        let new = old.replacingOccurrences("servers:", "defaults: {request_timeout: 9s}\nservers:")
        let d = try diff(old, new)
        #expect(d.modified == [CatalogDiff.Modification(id: "a", changed: ["request_timeout"])])
        #expect(d.unchanged == ["b"])
    }

    @Test("added, removed, modified and unchanged together; native and mcpServers compare alike")
    func allFour() throws {
        let old = """
            version: 1
            servers:
              - id: keep
                runtime: {type: local-process, command: k}
              - id: gone
                runtime: {type: local-process, command: g}
              - id: edit
                runtime: {type: local-process, command: e}
            """
        let new = """
            {"mcpServers": {
              "new": {"command": "n"},
              "edit": {"command": "e", "args": ["--v"]},
              "keep": {"command": "k"}
            }}
            """
        let d = try diff(old, new)
        #expect(d.added == ["new"])
        #expect(d.removed == ["gone"])
        #expect(d.modified == [CatalogDiff.Modification(id: "edit", changed: ["runtime.args"])])
        #expect(d.unchanged == ["keep"])
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard let r = range(of: target) else { preconditionFailure("'\(target)' not in test text") }
        return replacingCharacters(in: r, with: replacement)
    }
}
