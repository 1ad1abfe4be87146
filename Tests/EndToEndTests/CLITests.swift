import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

private let validCatalog = """
    version: 1
    servers:
      - id: echo
        runtime: {type: local-process, command: mcp-demo-server, args: [--name, echo]}
      - id: search
        runtime: {type: remote, url: "https://search.internal/mcp"}
    """

private func json(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8))
}

@Suite("hotswap validate, diff, hash, keygen")
struct CLITests {
    @Test("validate: valid prints servers and sha256, exit 0")
    func validateValid() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("catalog.yaml", validCatalog)
        let r = try ProcessRunner.hotswap(["validate", path])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("2 servers"))
        #expect(r.stdout.contains(ContentHash.sha256(Array(validCatalog.utf8))))
    }

    @Test("validate: every error as FILE:LINE:COL: error: PATH: message, hints, exit 1")
    func validateInvalid() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write(
            "bad.yaml",
            "version: 1\nservers:\n  - id: a\n    runtime:\n      type: local-process\n      comand: x\n  - id: a\n    runtime: {type: remote}\n"
        )
        let r = try ProcessRunner.hotswap(["validate", path])
        #expect(r.status == 1, "\(r)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.contains(
                "\(path):6:7: error: servers[0].runtime.comand: unknown key 'comand' in a local-process runtime"))
        #expect(lines.contains("  hint: did you mean 'command'?"))
        #expect(lines.contains { $0.hasPrefix("\(path):7:9: error: servers[1].id: duplicate server id 'a'") })
        #expect(lines.contains { $0.hasPrefix("\(path):8:14: error: servers[1].runtime.url: missing") })
        #expect(r.stdout.isEmpty)
    }

    @Test("validate: unreadable is exit 2; with several files the worst wins")
    func validateUnreadable() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let good = try dir.write("good.yaml", validCatalog)
        let r = try ProcessRunner.hotswap(["validate", good, dir.file("missing.yaml")])
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("missing.yaml:1:1: error: cannot open: No such file or directory"))
        #expect(try ProcessRunner.hotswap(["validate", dir.path]).status == 2, "a directory is not a catalog")
    }

    @Test("validate --format json")
    func validateJSON() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let good = try dir.write("good.yaml", validCatalog)
        let bad = try dir.write("bad.json", "{\"mcpServers\": {\"x\": {\"type\": \"smoke\", \"url\": \"http://h\"}}}")
        let r = try ProcessRunner.hotswap(["validate", "--format", "json", good, bad])
        #expect(r.status == 1)
        let report = try #require(try json(r.stdout) as? [String: Any])
        #expect(report["valid"] as? Bool == false)
        let files = try #require(report["files"] as? [[String: Any]])
        #expect(files[0]["servers"] as? Int == 2)
        #expect(files[0]["sha256"] as? String == ContentHash.sha256(Array(validCatalog.utf8)))
        #expect(files[1]["dialect"] as? String == "mcp-json")
        let error = try #require((files[1]["errors"] as? [[String: Any]])?.first)
        #expect(error["path"] as? String == "mcpServers.x.type")
        #expect(error["line"] as? Int == 1)
        #expect(error["column"] as? Int == 31)
        #expect((error["message"] as? String)?.contains("unknown transport type") == true)
    }

    @Test("validate: ${VAR} from the environment, or --no-env for syntax only")
    func validateEnvironment() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write(
            "c.yaml", "version: 1\nservers:\n  - id: a\n    runtime: {type: remote, url: \"${HOTSWAP_TEST_URL}\"}\n")
        #expect(try ProcessRunner.hotswap(["validate", path]).status == 1)
        #expect(
            try ProcessRunner.hotswap(["validate", path], environment: ["HOTSWAP_TEST_URL": "http://h/mcp"]).status == 0
        )
        #expect(try ProcessRunner.hotswap(["validate", "--no-env", path]).status == 0)
    }

    @Test("validate: hostile files are refused quickly, without a crash")
    func hostile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let big = dir.file("big.yaml")
        try Data(repeating: UInt8(ascii: "a"), count: 5 << 20).write(to: URL(fileURLWithPath: big))
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...30 {
            bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let bombPath = try dir.write("bomb.yaml", bomb)
        let garbage = dir.file("garbage.bin")
        try Data((0..<65536).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: garbage))
        let deep = try dir.write("deep.yaml", String(repeating: "[", count: 100_000))
        for (path, says) in [(big, "over the limit"), (bombPath, "more than"), (garbage, "error"), (deep, "nesting")] {
            let r = try ProcessRunner.hotswap(["validate", path])
            #expect(r.status == 1, "\(path): \(r)")
            #expect(r.stderr.contains(says), "\(path): \(r.stderr)")
        }
    }

    @Test("diff: text and JSON with the four lists")
    func diff() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let old = try dir.write("old.yaml", validCatalog)
        let new = try dir.write(
            "new.json",
            #"{"mcpServers": {"echo": {"command": "mcp-demo-server", "args": ["--name", "echo2"]}, "time": {"command": "t"}}}"#
        )
        let text = try ProcessRunner.hotswap(["diff", old, new])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("added:     time"))
        #expect(text.stdout.contains("removed:   search"))
        #expect(text.stdout.contains("modified:  echo (runtime.args)"))
        let r = try ProcessRunner.hotswap(["diff", "--format", "json", old, new])
        let d = try #require(try json(r.stdout) as? [String: Any])
        #expect(d["added"] as? [String] == ["time"])
        #expect(d["removed"] as? [String] == ["search"])
        #expect(d["unchanged"] as? [String] == [])
        let modified = try #require(d["modified"] as? [[String: Any]])
        #expect(modified.first?["id"] as? String == "echo")
        #expect(modified.first?["changed"] as? [String] == ["runtime.args"])
        let broken = try dir.write("broken.yaml", "version: 1\n")
        #expect(try ProcessRunner.hotswap(["diff", old, broken]).status == 1)
    }

    @Test("hash: a file, a ConfigMap directory, and --tree")
    func hash() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var cm = try KubeletConfigMap(directory: dir.url.appendingPathComponent("cm"))
        try cm.publish(["catalog.yaml": validCatalog, "other.txt": "x"])
        let expected = ContentHash.sha256(Array(validCatalog.utf8))
        let r = try ProcessRunner.hotswap(["hash", dir.file("cm")])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix(expected + "  "))
        #expect(r.stdout.contains("/cm/..data/catalog.yaml"))
        let file = try ProcessRunner.hotswap(["hash", dir.file("cm/catalog.yaml")])
        #expect(file.stdout.hasPrefix(expected))
        let tree1 = try ProcessRunner.hotswap(["hash", "--tree", dir.file("cm")]).stdout
        try cm.publish(["catalog.yaml": validCatalog, "other.txt": "x"])
        #expect(try ProcessRunner.hotswap(["hash", "--tree", dir.file("cm")]).stdout == tree1)
        #expect(try ProcessRunner.hotswap(["hash", dir.file("nope")]).status == 2)
    }

    @Test("keygen: key files with the right modes, readable by openssl; no overwrite without --force")
    func keygen() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try ProcessRunner.hotswap(["keygen", "--name", "gw", "--out", dir.path])
        #expect(r.status == 0, "\(r)")
        let attrs = try FileManager.default.attributesOfItem(atPath: dir.file("gw.key.pem"))
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let pub = try String(contentsOfFile: dir.file("gw.pub.pem"), encoding: .utf8)
        let derived = try ProcessRunner.tool("openssl", ["pkey", "-in", dir.file("gw.key.pem"), "-pubout"])
        #expect(derived.status == 0, "\(derived)")
        #expect(derived.stdout == pub, "openssl derives the same public key from our private key")
        #expect(try ProcessRunner.hotswap(["keygen", "--name", "gw", "--out", dir.path]).status == 1)
        #expect(try ProcessRunner.hotswap(["keygen", "--name", "gw", "--out", dir.path, "--force"]).status == 0)
        let h = try ProcessRunner.hotswap(["keygen", "--name", "ci", "--hmac", "--out", dir.path])
        #expect(h.status == 0)
        let secret = try TokenKey.load(path: dir.file("ci.secret"))
        #expect(secret.kid == "ci" && secret.algorithm == .hs256)
        let secretAttrs = try FileManager.default.attributesOfItem(atPath: dir.file("ci.secret"))
        #expect((secretAttrs[.posixPermissions] as? Int) == 0o600)
    }

    @Test("every command's --help explains its flags")
    func help() throws {
        let expected: [(String, [String])] = [
            ("validate", ["--format", "--dialect", "--no-env", "Exit status"]),
            ("diff", ["--format", "--dialect", "--no-env"]),
            ("hash", ["--file", "--tree"]),
            ("keygen", ["--name", "--out", "--hmac", "--force"]),
            ("token", ["mint", "verify"]),
            (
                "token mint",
                ["--key", "--config", "--sha256", "--op", "--aud", "--iss", "--ttl", "--kid", "HOTSWAP_SIGNING_KEY"]
            ),
        ]
        for (command, flags) in expected {
            let r = try ProcessRunner.hotswap(command.split(separator: " ").map(String.init) + ["--help"])
            #expect(r.status == 0)
            for flag in flags { #expect(r.stdout.contains(flag), "\(command) --help lacks \(flag)") }
        }
        let verify = try ProcessRunner.hotswap(["token", "verify", "--help"])
        for flag in ["--key", "--config", "--sha256", "--aud", "--op", "--max-ttl", "hash_mismatch"] {
            #expect(verify.stdout.contains(flag), "token verify --help lacks \(flag)")
        }
    }

    /// Flags that cannot work together, or a file that cannot work at all, are refused at start with what to do,
    /// not found out at the first reload.
    @Test("sidecar and gateway refuse misused peer, TLS and session-key flags at start, naming them")
    func refusedAtStart() throws {
        let dir = try TemporaryDirectory("flags")
        defer { dir.remove() }
        let catalog = try dir.write("catalog.yaml", "version: 1\nservers: []\n")
        let notPEM = try dir.write("ca.pem", "not a certificate\n")
        let shortKey = try dir.write("short.key", "short\n")
        let cases: [([String], String)] = [
            (["sidecar", "--watch", catalog, "--reply-confirms"], "--reply-confirms is for --signal http alone"),
            (
                [
                    "sidecar", "--watch", catalog, "--signal", "http", "--url", "http://127.0.0.1:9/r",
                    "--reply-confirms",
                    "--confirm-url", "http://127.0.0.1:9/s",
                ], "--reply-confirms is for --signal http alone"
            ),
            (
                ["sidecar", "--watch", catalog, "--confirm-url", "http://127.0.0.1:9/s"],
                "--confirm-url and --confirm-command are for another gateway"
            ),
            (
                [
                    "gateway", "--config", catalog, "--no-listen", "--control-socket", dir.file("c.sock"), "--ca-file",
                    notPEM,
                ],
                "--ca-file \(notPEM)"
            ),
            (
                ["gateway", "--config", catalog, "--no-listen", "--session-key", dir.file("missing.key")],
                "--session-key \(dir.file("missing.key")): "
            ),
            (
                ["gateway", "--config", catalog, "--no-listen", "--session-key", shortKey],
                "--session-key \(shortKey): 6 bytes, fewer than 32; make one with: head -c 32 /dev/urandom"
            ),
        ]
        for (arguments, says) in cases {
            let r = try ProcessRunner.hotswap(arguments)
            #expect(r.status == 64, "\(arguments): \(r)")
            #expect(r.stderr.contains(says), "\(arguments): \(r.stderr)")
        }
    }
}
