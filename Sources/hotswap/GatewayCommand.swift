import ArgumentParser
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapGateway
import HotswapRuntime
import HotswapWatch
import Logging

#if canImport(Glibc)
    import Glibc
#endif

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the MCP gateway: serve the catalog's servers and hot-reload it drain-first.",
        discussion: """
            Clients speak MCP (Streamable HTTP) at /mcp on --listen and on the control socket. A reload \
            (POST /admin/reload, SIGHUP, or the built-in watcher) swaps drain-first: unchanged servers keep \
            their process, changed ones are started before the swap, removed ones finish their calls.

            Process settings are flags (or HOTSWAP_* variables) and need a restart; the catalog is hot.
            """)

    @Option(help: "The catalog file, or a directory such as a ConfigMap mount. Env HOTSWAP_CONFIG.")
    var config: String?

    @Option(help: "The catalog's file name when --config is a directory. Env HOTSWAP_FILE.")
    var file: String?

    @Option(help: "TCP address for /mcp and the admin API. Env HOTSWAP_LISTEN. [default: 127.0.0.1:4444]")
    var listen: String?

    @Flag(help: "Serve on the control socket only, no TCP listener.")
    var noListen = false

    @Option(
        help:
            "Unix socket for the admin API and /mcp. Env HOTSWAP_SOCKET. [default: $XDG_RUNTIME_DIR/hotswap/control.sock, /run/hotswap/control.sock for root, $HOME/.hotswap/control.sock, else /tmp/hotswap-UID/control.sock; the directory is made 0700]"
    )
    var controlSocket: String?

    @Option(help: "Make the control socket 0660 and owned by this group (default: 0600, the gateway's user only).")
    var socketGroup: String?

    @Option(
        name: .customLong("verify-key"),
        help:
            "Public key (NAME.pub.pem) or secret (NAME.secret) that reload tokens must be signed with; repeat to rotate. Env HOTSWAP_VERIFY_KEY (comma-separated). Without one, only the gateway's own uid may reload, on the control socket."
    )
    var verifyKeys: [String] = []

    @Option(
        help:
            "This gateway's name: the audience (aud) a token must name. Env HOTSWAP_AUDIENCE. [default: hotswap-gateway]"
    )
    var audience: String?

    @Option(help: "Longest token lifetime accepted (exp - iat).")
    var tokenMaxTTL: String = "5m"

    @Option(help: "File holding the token for SIGHUP reloads (written by the sidecar). Env HOTSWAP_TOKEN_FILE.")
    var tokenFile: String?

    @Flag(
        inversion: .prefixedNo,
        help:
            "Watch --config and reload on change. Turn off (--no-watch, or HOTSWAP_WATCH=false) when a sidecar does it."
    )
    var watch: Bool?

    @Option(help: "How often the watcher stats the catalog.")
    var watchInterval: String = "500ms"

    @Option(
        help:
            "New content must read the same again after this long before it is applied; cut to one read 50ms later when inotify sees the writer finish (close after writing, rename into place, a ConfigMap swap)."
    )
    var settle: String = "200ms"

    @Option(help: "Hash the catalog this often even when stat shows no change.")
    var fullHashEvery: String = "30s"

    @Option(help: "At SIGTERM, how long in-flight calls get before servers are stopped.")
    var shutdownTimeout: String = "10s"

    @Option(help: "Origins allowed to call /mcp from a browser besides loopback; repeatable, * for any.")
    var allowOrigin: [String] = []

    @Option(
        help:
            "Host names a loopback --listen also answers to (DNS-rebinding protection refuses others with 421); repeatable, * for any. On other addresses, naming hosts turns the check on."
    )
    var allowHost: [String] = []

    @Option(
        help:
            "Most open TCP client connections; beyond it new ones are closed at once. [default: the descriptor limit, raised to its hard limit at start, less a reserve for servers and the control socket]"
    )
    var maxConnections: Int?

    @Option(help: "Close a client connection idle this long.")
    var clientIdleTimeout: String = "60s"

    @Option(help: "A request body must arrive within this long.")
    var bodyTimeout: String = "30s"

    @Option(help: "Request body bytes buffered at once across all connections; beyond it, 503. [default: 64 MiB]")
    var maxBufferedBytes: Int?

    @Option(
        help:
            "Most MCP sessions in all; unused and long-idle ones make room, never one with a call in flight or used in the last minute."
    )
    var maxSessions: Int = 10_000

    @Option(help: "Most MCP sessions per client address.")
    var maxSessionsPerClient: Int = 1_000

    @Option(
        name: .customLong("pass-env"),
        help: ArgumentHelp(
            "Also give every server this variable of the gateway's environment; repeatable. Env HOTSWAP_PASS_ENV (comma-separated).",
            discussion:
                "Servers start with PATH, HOME, USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ and TMPDIR only, plus their catalog `env`: another server's secrets never reach them. Pass one server a variable with `env: { NAME: \"${NAME}\" }`."
        ))
    var passEnv: [String] = []

    @Option(
        name: .customLong("ca-file"),
        help:
            "A PEM file of CA certificates to trust for every remote server, besides the system's (a server's own: `tls.ca_file`); repeatable. Env HOTSWAP_CA_FILE (comma-separated)."
    )
    var caFiles: [String] = []

    @Option(
        help: ArgumentHelp(
            "A secret file the replicas of a deployment share, that seals MCP session ids. Env HOTSWAP_SESSION_KEY_FILE.",
            discussion:
                "A session id carries its protocol version and client capabilities under this key, so any replica (or this gateway after a restart) takes the session up. Without it, the key is derived from the --verify-key files, which replicas share too; with neither, sessions live and die with this process."
        ))
    var sessionKey: String?

    @Option(help: "Write the gateway's pid here (for a sidecar in sighup mode). Env HOTSWAP_PID_FILE.")
    var pidFile: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        if let path = pidFile ?? Terminal.env("HOTSWAP_PID_FILE") {
            do {
                try FileIO.writeAtomically(path, Array("\(getpid())\n".utf8), mode: 0o644)
            } catch {
                Terminal.error("hotswap gateway: --pid-file: \(error.description)")
                throw ExitCode(2)
            }
        }
        let logger = try logging.bootstrap(label: "hotswap.gateway")

        guard let configPath = config ?? Terminal.env("HOTSWAP_CONFIG") else {
            throw ValidationError("give --config FILE (or set HOTSWAP_CONFIG)")
        }
        var settings = GatewayConfiguration(config: configPath)
        settings.configFile = file ?? Terminal.env("HOTSWAP_FILE") ?? "catalog.yaml"
        settings.listen = noListen ? nil : (listen ?? Terminal.env("HOTSWAP_LISTEN") ?? "127.0.0.1:4444")
        if let explicit = controlSocket ?? Terminal.env("HOTSWAP_SOCKET") {
            settings.controlSocket = explicit
        } else {
            settings.controlSocket = ControlEndpoint.defaultSocketPath
            settings.createSocketDirectory = true
        }
        settings.socketGroup = socketGroup
        settings.audience = audience ?? Terminal.env("HOTSWAP_AUDIENCE") ?? "hotswap-gateway"
        settings.tokenFile = tokenFile ?? Terminal.env("HOTSWAP_TOKEN_FILE")
        settings.watch =
            watch
            ?? (Terminal.env("HOTSWAP_WATCH").map { !["0", "false", "no", "off"].contains($0.lowercased()) } ?? true)
        settings.watchInterval = try Self.duration(watchInterval, "--watch-interval", minimum: .milliseconds(10))
        settings.settle = try Self.duration(settle, "--settle")
        settings.fullHashEvery = try Self.duration(fullHashEvery, "--full-hash-every", minimum: .milliseconds(100))
        settings.shutdownTimeout = try Self.duration(shutdownTimeout, "--shutdown-timeout")
        settings.tokenMaxTTL = Int64(
            try Self.duration(tokenMaxTTL, "--token-max-ttl", minimum: .seconds(1)).components.seconds)
        settings.allowedOrigins = allowOrigin
        settings.allowedHosts = allowHost
        if let maxConnections {
            guard maxConnections > 0 else { throw ValidationError("--max-connections must be at least 1") }
            settings.httpLimits.maxConnections = maxConnections
        }
        settings.httpLimits.idleTimeout = try Self.duration(
            clientIdleTimeout, "--client-idle-timeout", minimum: .milliseconds(100))
        settings.httpLimits.bodyTimeout = try Self.duration(bodyTimeout, "--body-timeout", minimum: .milliseconds(100))
        guard maxSessions > 0, maxSessionsPerClient > 0 else {
            throw ValidationError("--max-sessions and --max-sessions-per-client must be at least 1")
        }
        settings.maxSessions = maxSessions
        if let maxBufferedBytes {
            guard maxBufferedBytes >= settings.httpLimits.maxBodyBytes else {
                throw ValidationError(
                    "--max-buffered-bytes must be at least \(settings.httpLimits.maxBodyBytes) (one whole catalog)")
            }
            settings.httpLimits.maxBufferedBytes = maxBufferedBytes
        }
        settings.maxSessionsPerClient = maxSessionsPerClient
        settings.passEnvironment =
            passEnv.isEmpty
            ? (Terminal.env("HOTSWAP_PASS_ENV")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                ?? [])
            : passEnv
        settings.caFiles =
            caFiles.isEmpty
            ? (Terminal.env("HOTSWAP_CA_FILE")?.split(separator: ",").map { String($0) } ?? []) : caFiles
        do { try RemoteLauncher.checkCAFiles(settings.caFiles) } catch {
            throw ValidationError("--ca-file \(error.message)")
        }
        if let path = sessionKey ?? Terminal.env("HOTSWAP_SESSION_KEY_FILE") {
            let bytes: [UInt8]
            do { bytes = try FileIO.read(path, limit: 1 << 16) } catch {
                throw ValidationError("--session-key \(error)")
            }
            guard bytes.count >= TokenKey.minimumSecretBytes else {
                throw ValidationError(
                    "--session-key \(path): \(bytes.count) bytes, fewer than \(TokenKey.minimumSecretBytes); make one with: head -c 32 /dev/urandom > \(path)"
                )
            }
            settings.sessionKey = bytes
        }
        var keyPaths = verifyKeys
        if keyPaths.isEmpty, let env = Terminal.env("HOTSWAP_VERIFY_KEY") {
            keyPaths = env.split(separator: ",").map { String($0) }
        }
        do {
            settings.verifyKeys = try keyPaths.map { path throws(KeyLoadError) in try TokenKey.load(path: path) }
        } catch {
            Terminal.error("hotswap gateway: \(error.description)")
            throw ExitCode(2)
        }
        logger.info(
            "starting",
            metadata: [
                "config": "\(settings.configPath)", "listen": "\(settings.listen ?? "-")",
                "socket": "\(settings.controlSocket ?? "-")", "watch": "\(settings.watch)",
                "verify_keys": "\(settings.verifyKeys.map(\.kid))",
            ])
        do {
            let gateway = try Gateway(configuration: settings, logger: logger)
            try await gateway.run()
        } catch let error as GatewaySetupError {
            Terminal.error("hotswap gateway: \(error.description)")
            throw ExitCode(2)
        }
    }

    static func duration(_ text: String, _ flag: String, minimum: Duration = .zero) throws -> Duration {
        guard let d = CatalogDuration.parse(text), d.duration >= minimum else {
            throw ValidationError("\(flag) '\(text)' is not a duration of at least \(minimum) (e.g. 500ms, 30s, 5m)")
        }
        return d.duration
    }
}

/// `--log-format` and `--log-level`, shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log format: text or json (one object per line). Env HOTSWAP_LOG_FORMAT. [default: text]")
    var logFormat: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error. Env HOTSWAP_LOG_LEVEL. [default: info]")
    var logLevel: String?

    /// Installs the log handler for the process and returns a logger with `label`.
    func bootstrap(label: String) throws -> Logger {
        guard let format = HotswapLogHandler.Format(rawValue: logFormat ?? Terminal.env("HOTSWAP_LOG_FORMAT") ?? "text")
        else { throw ValidationError("--log-format must be text or json") }
        guard let level = Logger.Level(rawValue: logLevel ?? Terminal.env("HOTSWAP_LOG_LEVEL") ?? "info") else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning or error")
        }
        HotswapLogHandler.bootstrap(format: format, level: level)
        return Logger(label: label)
    }
}
