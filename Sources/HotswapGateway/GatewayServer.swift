import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import HotswapWatch
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Everything `hotswap gateway` is told on its command line.
public struct GatewayConfiguration: Sendable {
    /// The catalog file (or a ConfigMap directory, with `configFile` naming the catalog in it).
    public var config: String
    public var configFile = "catalog.yaml"
    /// TCP listener, "host:port"; nil for none.
    public var listen: String? = "127.0.0.1:4444"
    public var controlSocket: String?
    /// Create the control socket's directory, private (0700), when it is missing: for the default path.
    public var createSocketDirectory = false
    public var socketGroup: String?
    public var verifyKeys: [TokenKey] = []
    public var audience = "hotswap-gateway"
    public var tokenMaxTTL: Int64 = 300
    public var tokenFile: String?
    public var watch = true
    public var watchInterval: Duration = .milliseconds(500)
    public var settle: Duration = .milliseconds(200)
    public var fullHashEvery: Duration = .seconds(30)
    public var shutdownTimeout: Duration = .seconds(10)
    public var stopGrace: Duration = .seconds(5)
    public var allowedOrigins: [String] = []
    /// Host names a loopback TCP listener answers to besides localhost, 127.0.0.1 and [::1] (`--allow-host`).
    public var allowedHosts: [String] = []
    /// Connections, buffered bytes, idle and body time limits for clients.
    public var httpLimits = HTTPLimits()
    /// MCP sessions in all and per client address.
    public var maxSessions = 10_000
    public var maxSessionsPerClient = 1_000
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Variables of `environment` every server gets besides the minimal base (`--pass-env`).
    public var passEnvironment: [String] = []
    /// PEM files of CA certificates every remote server is trusted with, besides the system's (`--ca-file`).
    public var caFiles: [String] = []
    /// The secret that seals MCP session ids (`--session-key`); nil: derived from `verifyKeys`, or random.
    public var sessionKey: [UInt8]?

    public init(config: String) { self.config = config }

    /// The catalog file, resolved through a ConfigMap's `..data` when `config` is a directory.
    public var configPath: String { ContentHash.catalogPath(watching: config, file: configFile) }
}

/// A problem with the gateway's own settings (not the catalog's), with what to do.
public struct GatewaySetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// `hotswap gateway`: the registry, its listeners, and the loops around it, as one `ServiceGroup`.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let registry: Registry
    public let metrics = GatewayMetrics()
    public let streams = SessionStreams()
    private let logger: Logger
    private let group: any EventLoopGroup
    private let verifier: ReloadTokenVerifier?

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup.singleton
        var settings = Registry.Settings(configPath: configuration.configPath, environment: configuration.environment)
        settings.stopGrace = configuration.stopGrace
        settings.passEnvironment = configuration.passEnvironment
        settings.caFiles = configuration.caFiles
        let metrics = self.metrics
        let streams = self.streams
        self.registry = Registry(
            settings: settings, group: group, logger: logger, metrics: metrics,
            events: BackendEvents(
                listChanged: { streams.listChanged($0) },
                notification: { server, message in streams.serverNotification(server, message) }))
        if configuration.verifyKeys.isEmpty {
            verifier = nil
        } else {
            let keyring = try Keyring(configuration.verifyKeys)
            verifier = ReloadTokenVerifier(
                keyring: keyring, audience: configuration.audience, maxTTL: configuration.tokenMaxTTL)
        }
    }

    public func run() async throws {
        // Writes to a child that has exited must fail with EPIPE, not kill the gateway.
        signal(SIGPIPE, SIG_IGN)
        // The registry's supervisor (backend starts, restart timers, drains) runs beside everything else from
        // the first reload on, and ends with the registry's shutdown, which every way out of `serve` reaches.
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.registry.supervise() }
            do {
                try await serve()
            } catch {
                await registry.shutdown(timeout: configuration.shutdownTimeout)
                throw error
            }
            await registry.shutdown(timeout: configuration.shutdownTimeout)
        }
        logger.info("stopped")
    }

    private func serve() async throws {
        let initial = await registry.submit(ReloadRequest(bytes: nil, source: .startup))
        if initial.result != .applied {
            logger.error(
                "the initial catalog was not loaded; the gateway runs but is not ready until a valid catalog arrives",
                metadata: ["config": "\(configuration.configPath)"])
        }
        let mcp = MCPEndpoint(
            registry: registry, metrics: metrics, logger: logger, streams: streams,
            maxSessions: configuration.maxSessions, maxSessionsPerClient: configuration.maxSessionsPerClient,
            seal: configuration.sessionKey.map { SessionSeal(key: $0) }
                ?? (configuration.verifyKeys.isEmpty ? .random() : .shared(by: configuration.verifyKeys)))
        let routes = GatewayRoutes(
            registry: registry, mcp: mcp, metrics: metrics, authorizer: AdminAuthorizer(verifier: verifier),
            limits: configuration.httpLimits, allowedOrigins: configuration.allowedOrigins)
        // Each listener has its own allowance, so a flood of TCP clients never locks the operator out of the
        // control socket; together they stay inside the descriptor limit (HTTPLimits keeps a reserve).
        let descriptors = HTTPLimits.raiseDescriptorLimit()
        let maxConnections =
            configuration.httpLimits.maxConnections ?? HTTPLimits.connections(forDescriptorLimit: descriptors)
        func http1(limit: Int) -> HTTPServerBuilder {
            let limiter = ConnectionLimiter(limit: limit, logger: logger)
            return .http1(
                configuration: .init(
                    additionalChannelHandlers: [limiter.handler(), routes.connections.handler()],
                    idleTimeout: TimeAmount(configuration.httpLimits.idleTimeout)))
        }
        var services: [any Service] = [
            RegistryService(registry: registry, timeout: configuration.shutdownTimeout, logger: logger)
        ]
        if let path = configuration.controlSocket {
            try Self.prepareSocketPath(path, createDirectory: configuration.createSocketDirectory)
            let mode: mode_t = configuration.socketGroup == nil ? 0o600 : 0o660
            let gid = try configuration.socketGroup.map(Self.groupID)
            let logger = self.logger
            // bind(2) creates the socket file with the process umask; under umask 000 it would be open to every
            // local user until the chmod below. Binding under 077 means it is never more open than 0700.
            let umaskBeforeBind = umask(0o077)
            services.append(
                Application(
                    router: routes.router(), server: http1(limit: HTTPLimits.controlSocketConnections),
                    configuration: .init(address: .unixDomainSocket(path: path), serverName: nil),
                    onServerRunning: { _ in
                        umask(umaskBeforeBind)
                        if let gid { _ = chown(path, uid_t.max, gid) }
                        chmod(path, mode)
                        logger.info(
                            "control socket ready",
                            metadata: ["socket": "\(path)", "mode": "\(String(mode, radix: 8))"])
                    },
                    eventLoopGroupProvider: .shared(group), logger: quiet(logger)))
        }
        if let listen = configuration.listen {
            let address: ListenAddress
            do { address = try ListenAddress(parsing: listen) } catch { throw GatewaySetupError(error.description) }
            let (host, port) = (address.host, address.port)
            let logger = self.logger
            services.append(
                Application(
                    router: routes.router(hosts: HostPolicy(listenHost: host, allowed: configuration.allowedHosts)),
                    server: http1(limit: maxConnections),
                    configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in
                        logger.info(
                            "listening", metadata: ["listen": "\(channel.localAddress.map { "\($0)" } ?? listen)"])
                    },
                    eventLoopGroupProvider: .shared(group), logger: quiet(logger)))
        }
        services.append(
            SighupService(registry: registry, configuration: configuration, verifier: verifier, logger: logger))
        if configuration.watch {
            services.append(
                WatchService(registry: registry, configuration: configuration, initial: initial, logger: logger))
        }
        services.append(IdleService(registry: registry))
        // Last in the list, so the first to hear of shutdown: open event streams end before the listeners
        // wait for their responses to finish.
        services.append(StreamCloserService(streams: streams))
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet(logger))
        // At SIGTERM the listeners stop accepting and wait for the requests they are serving; past
        // --shutdown-timeout those are cancelled (their clients get an error), and the registry service, which
        // is cancelled with them, stops every process group at once (SIGTERM, SIGKILL after the grace).
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        let serviceGroup = ServiceGroup(configuration: groupConfiguration)
        do {
            try await serviceGroup.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw GatewaySetupError(
                "--listen \(configuration.listen ?? ""): the address is already in use (another gateway?); "
                    + "pick another with --listen HOST:PORT, or --no-listen for the control socket only")
        }
    }

    private func quiet(_ logger: Logger) -> Logger {
        var l = logger
        l.logLevel = max(logger.logLevel, .warning)
        return l
    }

    /// Removes a stale socket file left by a gateway that died; refuses when one is still listening on it.
    /// With `createDirectory` (the default path), makes the directory 0700 when missing and refuses one that
    /// another user owns or could write to: whoever controls the directory controls the socket.
    static func prepareSocketPath(_ path: String, createDirectory: Bool = false) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if createDirectory && !dir.isEmpty {
            if !FileIO.exists(dir) && mkdir(dir, 0o700) != 0 && errno != EEXIST {
                throw GatewaySetupError(
                    "cannot create the control socket's directory \(dir): \(String(cString: strerror(errno))); "
                        + "give --control-socket PATH")
            }
            var info = stat()
            guard lstat(dir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw GatewaySetupError("\(dir) is not a directory; give --control-socket PATH")
            }
            guard info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
                throw GatewaySetupError(
                    "\(dir) belongs to uid \(info.st_uid) with mode \(String(info.st_mode & 0o777, radix: 8)); the "
                        + "control socket's directory must be this user's (uid \(geteuid())) and private (0700), or "
                        + "another user could take the socket. Remove it, or give --control-socket PATH")
            }
        }
        if !dir.isEmpty && !FileIO.isDirectory(dir) {
            throw GatewaySetupError(
                "--control-socket: directory \(dir) does not exist; create it or mount a volume there")
        }
        try lockSocket(path)
        guard FileIO.exists(path) else { return }
        if ControlSocketProbe.isListening(path) {
            throw GatewaySetupError("--control-socket \(path): another gateway is already listening there")
        }
        unlink(path)
    }

    /// Takes an exclusive lock on `PATH.lock` for the life of the process before the socket is bound: of two
    /// gateways started at the same moment on one socket, one gets it and the other stops here, instead of both
    /// binding in turn and one serving on a path that no longer leads to it.
    static func lockSocket(_ path: String) throws {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw GatewaySetupError(
                "cannot open the control socket's lock \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw GatewaySetupError(
                "--control-socket \(path): another gateway is already using it (it holds \(lockPath)); stop it, or "
                    + "give this one another --control-socket")
        }
        // Held, open, until the process exits: the kernel releases the lock then, even after a crash.
    }

    static func groupID(_ name: String) throws -> gid_t {
        if let n = gid_t(name) { return n }
        guard let g = getgrnam(name) else { throw GatewaySetupError("--socket-group: no group named '\(name)'") }
        return g.pointee.gr_gid
    }
}

/// Probes whether something accepts connections on a Unix socket path.
enum ControlSocketProbe {
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc == 0
    }
}
