import ArgumentParser
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapGateway
import HotswapRuntime
import HotswapSidecar
import HotswapWatch
import Logging

struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecar",
        abstract:
            "Watch a mounted catalog and reload the gateway when it changes: poll, settle, validate, sign, signal, confirm.",
        discussion: """
            One change flows like this: a stat every --interval sees the file change; its content is read and \
            hashed; it must read the same again after --settle (a half-written file never counts); it is \
            validated (invalid content is logged with line and column and never signalled); a token is \
            signed for its sha256; the gateway is signalled; the change counts as applied only when the \
            gateway reports that hash live. Transport errors retry with backoff (500ms to 30s); content \
            the gateway refused is not sent again until the file changes.

            --once exit status: 0 applied, 1 invalid, 3 refused by the gateway, 4 gateway unreachable, \
            5 signalled but unconfirmed, 6 catalog unreadable.

            Another gateway (mcp-hangar, magg, anything that reloads on SIGHUP or a POST): --signal sighup or http, \
            its own check as --validate-command, and --confirm-url, --confirm-command or --reply-confirms to \
            confirm. The content found at start is taken as what that gateway loaded from the same file; only \
            changes are signalled.
            """)

    @Option(help: "The catalog file, or a directory (a ConfigMap mount) holding --file. Env HOTSWAP_WATCH_PATH.")
    var watch: String?

    @Option(help: "The catalog's name inside a --watch directory. Env HOTSWAP_FILE. [default: catalog.yaml]")
    var file: String?

    @Option(help: "How often to stat the catalog: a change shows within about this long.")
    var interval: String = "500ms"

    @Flag(
        help:
            "Do not use inotify as a hint. By default a change that inotify reports is looked at at once; polling still finds every change where inotify says nothing (Docker Desktop shares, NFS)."
    )
    var noInotify = false

    @Option(help: "Read and hash even when stat shows no change, this often (some mounts keep mtime).")
    var fullHashEvery: String = "30s"

    @Option(
        help:
            "New content must read the same again after this long: long enough for a writer to finish. Cut to one read 50ms later when inotify sees the writer finish (close after writing, rename into place, a ConfigMap swap); --no-inotify keeps it whole."
    )
    var settle: String = "200ms"

    @Option(help: "Validation: hotswap (the catalog schema), mcp-json, yaml or json (syntax only). Env HOTSWAP_FORMAT.")
    var format: String?

    @Option(help: "Validate with this command instead (split on spaces, no shell; {} is a private copy of the file).")
    var validateCommand: String?

    @Option(help: "Time limit for --validate-command.")
    var validateTimeout: String = "10s"

    @Option(
        help:
            "How to tell the gateway: socket (push the bytes to its control socket), sighup, or http. Env HOTSWAP_SIGNAL."
    )
    var signal: String?

    @Option(
        help:
            "The gateway's control socket (socket mode; also used to confirm). Env HOTSWAP_SOCKET. [default: as the gateway's: $XDG_RUNTIME_DIR/hotswap/control.sock, /run/hotswap/control.sock for root, $HOME/.hotswap/control.sock, else /tmp/hotswap-UID/control.sock]"
    )
    var socket: String?

    @Option(help: "sighup mode: file holding the gateway's pid.")
    var pidFile: String?

    @Option(help: "sighup mode: the gateway's process name, found in a shared PID namespace.")
    var processName: String?

    @Option(help: "sighup mode: where to write the token (atomically) before signalling. Env HOTSWAP_TOKEN_FILE.")
    var tokenFile: String?

    @Option(help: "http mode: URL to POST to. Env HOTSWAP_RELOAD_URL.")
    var url: String?

    @Option(help: "http mode: file with a bearer token to send.")
    var bearerFile: String?

    @Flag(
        help:
            "http mode: the gateway answers the POST only once it has applied its file (mcp-hangar's /api/config/reload does), so a 2xx answer confirms."
    )
    var replyConfirms = false

    @Option(
        help:
            "Where to read the gateway's /stats to confirm (sighup, http): http://HOST:PORT or a socket path. Env HOTSWAP_STATS_URL."
    )
    var statsURL: String?

    @Option(
        help:
            "Another gateway (sighup, http): confirm a signal when a GET of this http://HOST:PORT/PATH answers differently than just before it (a server or tool list). Env HOTSWAP_CONFIRM_URL."
    )
    var confirmURL: String?

    @Option(
        help:
            "Another gateway (sighup, http): confirm a signal when this command exits 0 (split on spaces, no shell; {} is a private copy of the signalled file), tried until --confirm-timeout, each run limited by --validate-timeout."
    )
    var confirmCommand: String?

    @Option(help: "Key to sign reload tokens with (NAME.key.pem or NAME.secret). Env HOTSWAP_SIGNING_KEY.")
    var signingKey: String?

    @Option(help: "Key id for the token; defaults to NAME of the key file. Env HOTSWAP_KEY_ID.")
    var keyID: String?

    @Option(help: "The gateway's --audience. Env HOTSWAP_AUDIENCE. [default: hotswap-gateway]")
    var audience: String?

    @Option(help: "Issuer written in tokens. Env HOTSWAP_ISSUER. [default: hotswap-sidecar]")
    var issuer: String?

    @Option(help: "Token lifetime; at most the gateway's --token-max-ttl.")
    var tokenTTL: String = "60s"

    @Option(
        help: "Compare the gateway's live hash with the file's this often, and push when they differ.")
    var reconcileInterval: String = "30s"

    @Option(help: "How long to wait for /stats to show a signalled hash.")
    var confirmTimeout: String = "10s"

    @Flag(help: "Validate, push and confirm once, then exit (init containers, CI).")
    var once = false

    @Option(help: "--once: give up on an unreachable gateway after this long.")
    var onceTimeout: String = "30s"

    @Option(help: "Address for /metrics, /healthz, /readyz. Env HOTSWAP_SIDECAR_LISTEN. [default: :9533]")
    var listen: String?

    @Flag(help: "No /metrics listener.")
    var noListen = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = try logging.bootstrap(label: "hotswap.sidecar")
        let config = try makeConfiguration()
        // The signing key is in memory and in this container's files: neither readable by the gateway's user
        // through /proc when the PID namespace is shared.
        if config.signingKey != nil, let failure = Undumpable.apply() {
            logger.warning(
                "cannot keep the signing key from other processes of this user", metadata: ["error": "\(failure)"])
        }
        if once {
            let controller = ReloadController(configuration: config, logger: logger)
            let result = await controller.runOnce(deadline: try GatewayCommand.duration(onceTimeout, "--once-timeout"))
            let code: Int32
            switch result {
            case .applied: code = 0
            case .invalid: code = 1
            case .rejected: code = 3
            case .unreachable: code = 4
            case .unconfirmed: code = 5
            case .unreadable: code = 6
            }
            logger.info("once: \(result)", metadata: ["exit": "\(code)"])
            throw ExitCode(code)
        }
        if config.stats == nil, let initial = config.initialHash {
            logger.info(
                "the catalog at start is taken as the one the gateway loaded; changes from now on are signalled",
                metadata: ["reload.sha256": "\(initial)"])
        }
        let address = noListen ? nil : (listen ?? Terminal.env("HOTSWAP_SIDECAR_LISTEN") ?? ":9533")
        try await Sidecar(configuration: config, listen: address, logger: logger).run()
    }

    func peerConfirmation(file: String, timeout: Duration) throws -> PeerConfirmation? {
        switch (confirmURL ?? Terminal.env("HOTSWAP_CONFIRM_URL"), confirmCommand) {
        case (nil, nil):
            return nil
        case (let url?, nil):
            guard let (endpoint, path) = ControlEndpoint.url(url) else {
                throw ValidationError("--confirm-url '\(url)' is not http://HOST:PORT/PATH")
            }
            return .answerChanges(endpoint: endpoint, path: path)
        case (nil, let command?):
            let argv = command.split(separator: " ").map(String.init)
            guard !argv.isEmpty else { throw ValidationError("--confirm-command is empty") }
            return .command(CheckCommand(argv: argv, timeout: timeout, fileName: file))
        case (_?, _?):
            throw ValidationError("give --confirm-url or --confirm-command, not both")
        }
    }

    func makeConfiguration() throws -> WatchConfiguration {
        guard let watchPath = watch ?? Terminal.env("HOTSWAP_WATCH_PATH") else {
            throw ValidationError("give --watch PATH (a catalog file or a ConfigMap directory)")
        }
        var poller = CatalogPoller.Settings(watch: watchPath)
        poller.file = file ?? Terminal.env("HOTSWAP_FILE") ?? "catalog.yaml"
        poller.settle = try GatewayCommand.duration(settle, "--settle")
        poller.fullHashEvery = try GatewayCommand.duration(
            fullHashEvery, "--full-hash-every", minimum: .milliseconds(100))
        let socketPath = socket ?? Terminal.env("HOTSWAP_SOCKET") ?? ControlEndpoint.defaultSocketPath
        let mode = signal ?? Terminal.env("HOTSWAP_SIGNAL") ?? "socket"
        let signaler: any Signaler
        var stats: ControlEndpoint?
        if let s = statsURL ?? Terminal.env("HOTSWAP_STATS_URL") {
            guard let e = ControlEndpoint(s) else {
                throw ValidationError("--stats-url '\(s)' is not http://HOST:PORT or a socket path")
            }
            stats = e
        }
        switch mode {
        case "socket":
            signaler = SocketSignaler(endpoint: .unix(path: socketPath))
            stats = stats ?? .unix(path: socketPath)
        case "sighup":
            guard pidFile != nil || processName != nil else {
                throw ValidationError("--signal sighup needs --pid-file or --process-name")
            }
            signaler = SignalSignaler(
                pidFile: pidFile, processName: processName, tokenFile: tokenFile ?? Terminal.env("HOTSWAP_TOKEN_FILE"))
        case "http":
            guard let u = url ?? Terminal.env("HOTSWAP_RELOAD_URL") else {
                throw ValidationError("--signal http needs --url")
            }
            do { signaler = try HTTPSignaler(url: u, bearerFile: bearerFile, replyConfirms: replyConfirms) } catch {
                throw ValidationError("\(error)")
            }
        default:
            throw ValidationError("--signal must be socket, sighup or http")
        }
        var config = WatchConfiguration(poller: poller, signaler: signaler)
        config.interval = try GatewayCommand.duration(interval, "--interval", minimum: .milliseconds(10))
        config.inotifyHint = !noInotify
        let timeout = try GatewayCommand.duration(validateTimeout, "--validate-timeout", minimum: .milliseconds(100))
        if let command = validateCommand {
            let argv = command.split(separator: " ").map(String.init)
            guard !argv.isEmpty else { throw ValidationError("--validate-command is empty") }
            config.validation = .command(argv, timeout: timeout)
        } else {
            switch format ?? Terminal.env("HOTSWAP_FORMAT") ?? "hotswap" {
            case "hotswap": config.validation = .catalog(.auto)
            case "mcp-json": config.validation = .catalog(.mcpJSON)
            case "yaml": config.validation = .yamlSyntax
            case "json": config.validation = .jsonSyntax
            default: throw ValidationError("--format must be hotswap, mcp-json, yaml or json")
            }
        }
        if let keyPath = signingKey ?? Terminal.env("HOTSWAP_SIGNING_KEY") {
            do {
                config.signingKey = try TokenKey.load(path: keyPath, kid: keyID ?? Terminal.env("HOTSWAP_KEY_ID"))
            } catch {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
        }
        config.audience = audience ?? Terminal.env("HOTSWAP_AUDIENCE") ?? "hotswap-gateway"
        config.issuer = issuer ?? Terminal.env("HOTSWAP_ISSUER") ?? "hotswap-sidecar"
        config.tokenTTL = Int64(
            try GatewayCommand.duration(tokenTTL, "--token-ttl", minimum: .seconds(1)).components.seconds)
        config.stats = stats
        config.reconcileInterval = try GatewayCommand.duration(
            reconcileInterval, "--reconcile-interval", minimum: .milliseconds(100))
        config.confirmTimeout = try GatewayCommand.duration(confirmTimeout, "--confirm-timeout")
        config.peerConfirmation = try peerConfirmation(file: poller.file, timeout: timeout)
        if mode != "socket", stats == nil, !once {
            // Another gateway read this same mounted file when it started. Signalling it the same content at once
            // only races its start (magg 1.3 loses a SIGHUP that arrives while it mounts its servers, and every
            // later one with it) and cannot be confirmed by an answer that does not change: the content found
            // at start is taken as live, and the next change is signalled.
            config.initialHash = try? ContentHash.file(ContentHash.catalogPath(watching: watchPath, file: poller.file))
        }
        if config.peerConfirmation != nil, mode == "socket" || stats != nil {
            throw ValidationError(
                "--confirm-url and --confirm-command are for another gateway signalled with sighup or http; a hotswap gateway is confirmed by its /stats (--stats-url)"
            )
        }
        if replyConfirms, mode != "http" || config.peerConfirmation != nil || stats != nil {
            throw ValidationError(
                "--reply-confirms is for --signal http alone: the POST's answer is the confirmation, so no --stats-url, --confirm-url or --confirm-command beside it"
            )
        }
        return config
    }
}
