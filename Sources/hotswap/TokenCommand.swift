import ArgumentParser
import HotswapCore

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint or verify a signed reload token.",
        discussion: """
            Mint (the default subcommand) and check:

              hotswap token --key ops.key.pem --config catalog.yaml
              hotswap token verify --key ops.pub.pem --config catalog.yaml TOKEN

            `hotswap token mint --help` and `hotswap token verify --help` explain \
            every flag.
            """,
        subcommands: [MintToken.self, VerifyToken.self],
        defaultSubcommand: MintToken.self)
}

/// Flags naming what a token is for.
struct TokenScope: ParsableArguments {
    @Option(help: "Catalog file whose bytes the token allows to be applied (its sha256 goes in the token).")
    var config: String?

    @Option(help: "Hex SHA-256 of the catalog bytes, instead of --config.")
    var sha256: String?

    @Option(help: "Audience: the gateway's name (its --audience). Env HOTSWAP_AUDIENCE. [default: hotswap-gateway]")
    var aud: String?

    func contentHash() throws -> String? {
        if config != nil && sha256 != nil { throw ValidationError("give --config or --sha256, not both") }
        if let sha256 {
            let hex = sha256.lowercased()
            guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
                throw ValidationError("--sha256 must be 64 hex digits (see `hotswap hash FILE`)")
            }
            return hex
        }
        if let config {
            do {
                return try ContentHash.file(config)
            } catch {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
        }
        return nil
    }

    var audience: String { aud ?? Terminal.env("HOTSWAP_AUDIENCE") ?? "hotswap-gateway" }
}

struct MintToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mint",
        abstract: "Print a reload token (the default: `hotswap token --key ... --config ...`).",
        discussion: """
            Example, for a gateway's control socket:

              TOKEN=$(hotswap token --key ops.key.pem --config catalog.yaml)
              curl --unix-socket /run/hotswap/control.sock \\
                -H "Authorization: Bearer $TOKEN" \\
                --data-binary @catalog.yaml http://gateway/admin/reload
            """)

    @Option(help: "Signing key: NAME.key.pem (Ed25519) or NAME.secret (HMAC). Env HOTSWAP_SIGNING_KEY.")
    var key: String?

    @OptionGroup var scope: TokenScope

    @Option(help: "Operation: reload, server.stop, server.start or server.restart.")
    var op: String = "reload"

    @Option(help: "Server id, for server operations.")
    var server: String?

    @Option(help: "Issuer, to tell token sources apart. Env HOTSWAP_ISSUER. [default: hotswap-cli]")
    var iss: String?

    @Option(help: "Lifetime, e.g. 60s (at most the gateway's --token-max-ttl, 5m by default). Env HOTSWAP_TOKEN_TTL.")
    var ttl: String?

    @Option(help: "Key id; defaults to NAME of the key file. Env HOTSWAP_KEY_ID.")
    var kid: String?

    func run() throws {
        guard let keyPath = key ?? Terminal.env("HOTSWAP_SIGNING_KEY") else {
            throw ValidationError("give --key FILE (or set HOTSWAP_SIGNING_KEY)")
        }
        let sha = try scope.contentHash()
        if op == "reload" && sha == nil {
            throw ValidationError("a reload token needs --config FILE or --sha256 HEX")
        }
        if op.hasPrefix("server.") && server == nil {
            throw ValidationError("a \(op) token needs --server ID")
        }
        let ttlText = ttl ?? Terminal.env("HOTSWAP_TOKEN_TTL") ?? "60s"
        guard let lifetime = CatalogDuration.parse(ttlText), lifetime.milliseconds >= 1000 else {
            throw ValidationError("--ttl '\(ttlText)' is not a duration of at least 1s (e.g. 60s, 5m)")
        }
        print(
            try Terminal.mintToken(
                keyPath: keyPath, kid: kid, op: op, sha256: sha, audience: scope.audience,
                issuer: iss ?? Terminal.env("HOTSWAP_ISSUER") ?? "hotswap-cli",
                ttlSeconds: lifetime.milliseconds / 1000, server: server))
    }
}

struct VerifyToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a token as the gateway would; print its claims or why it is refused.",
        discussion: """
            Exit status: 0 valid, 1 refused (the reason is one of: \
            \(TokenRefusal.Reason.allCases.map(\.rawValue).joined(separator: ", "))), \
            2 a key could not be read.

            Single use (jti) cannot be checked here: this command keeps no state.
            """)

    @Option(
        name: .customLong("key"),
        help:
            "Verify key: NAME.pub.pem, NAME.key.pem or NAME.secret; repeat for several. Env HOTSWAP_VERIFY_KEY (comma-separated)."
    )
    var keys: [String] = []

    @OptionGroup var scope: TokenScope

    @Option(help: "The operation the token must allow.")
    var op: String = "reload"

    @Option(help: "The server the token must name, for server operations.")
    var server: String?

    @Option(help: "Longest token lifetime accepted. Env HOTSWAP_TOKEN_MAX_TTL.")
    var maxTTL: String?

    @Option(help: "Output: text, or json ({valid, claims} or {valid, reason, message}).")
    var format: OutputFormat = .text

    @Argument(help: "The token, or - to read it from standard input.")
    var token: String

    struct Verdict: Encodable {
        var valid: Bool
        var claims: ReloadClaims?
        var reason: String?
        var message: String?
    }

    func run() throws {
        var paths = keys
        if paths.isEmpty, let env = Terminal.env("HOTSWAP_VERIFY_KEY") {
            paths = env.split(separator: ",").map { String($0) }
        }
        guard !paths.isEmpty else { throw ValidationError("give at least one --key FILE") }
        let ttlText = maxTTL ?? Terminal.env("HOTSWAP_TOKEN_MAX_TTL") ?? "5m"
        guard let limit = CatalogDuration.parse(ttlText) else {
            throw ValidationError("--max-ttl '\(ttlText)' is not a duration")
        }
        let keyring: Keyring
        do {
            keyring = try Keyring(paths.map { path throws(KeyLoadError) in try TokenKey.load(path: path) })
        } catch {
            Terminal.error(error.description)
            throw ExitCode(2)
        }
        var text = token
        if text == "-" { text = readLine(strippingNewline: true) ?? "" }
        let verifier = ReloadTokenVerifier(
            keyring: keyring, audience: scope.audience, maxTTL: limit.milliseconds / 1000)
        let expectation = TokenExpectation(op: op, sha256: try scope.contentHash(), server: server)
        do {
            let claims = try verifier.verify(text, expecting: expectation)
            if format == .json {
                Terminal.printJSON(Verdict(valid: true, claims: claims))
            } else {
                print("valid")
                Terminal.printJSON(claims)
            }
        } catch {
            if format == .json {
                Terminal.printJSON(Verdict(valid: false, reason: error.reason.rawValue, message: error.message))
            } else {
                Terminal.error("refused: \(error.reason.rawValue): \(error.message)")
            }
            throw ExitCode(1)
        }
    }
}
