import ArgumentParser
import HotswapCore

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Small helpers every command shares: stderr, JSON output, environment fallbacks.
enum Terminal {
    static func error(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        // write(2) on fd 2 rather than the C `stderr` global, which Swift 6 treats as shared mutable state.
        let bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
    }

    static func printJSON(_ value: some Encodable) {
        if let json = try? JSONValue(encoding: value) { print(json.pretty) }
    }

    /// The value of a `HOTSWAP_*` environment variable, when set and not empty.
    static func env(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Loads a signing key and mints a token; a key that cannot be used is exit status 2 with its reason.
    static func mintToken(
        keyPath: String, kid: String?, op: String, sha256: String?, audience: String, issuer: String,
        ttlSeconds: Int64, server: String? = nil
    ) throws -> String {
        do {
            let key = try TokenKey.load(path: keyPath, kid: kid ?? env("HOTSWAP_KEY_ID"))
            return try ReloadTokenSigner(key: key).mint(
                op: op, sha256: sha256, audience: audience, issuer: issuer, ttlSeconds: ttlSeconds, server: server)
        } catch let error as KeyLoadError {
            self.error(error.description)
            throw ExitCode(2)
        }
    }
}

/// `--format text|json` for command output.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension CatalogDialect: ExpressibleByArgument {}

/// Options for reading catalogs, shared by validate and diff.
struct CatalogOptions: ParsableArguments {
    @Option(
        name: .customLong("dialect"),
        help: ArgumentHelp(
            "Catalog format: auto (by the top-level key), hotswap (version: 1), or mcp-json (an mcpServers map).",
            valueName: "auto|hotswap|mcp-json"))
    var dialect: CatalogDialect = .auto

    @Flag(
        name: .customLong("no-env"),
        help: """
            Check ${VAR} references for syntax only, without expanding them. Use it where the environment is \
            not the gateway's (a sidecar, CI): otherwise an unset variable is an error.
            """)
    var noEnv = false

    var loadOptions: CatalogLoadOptions {
        CatalogLoadOptions(dialect: dialect, environment: noEnv ? .syntaxOnly : .expand(Terminal.environment))
    }
}
