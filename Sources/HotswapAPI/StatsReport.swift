/// The body of `GET /stats`.
public struct StatsReport: Sendable, Codable, Equatable {
    /// The last reload answered, whatever its result.
    public struct LastReload: Sendable, Codable, Equatable {
        public var at: Double
        public var source: ReloadSource
        public var result: ReloadReport.Result
        public var durationMs: Double
        public var generation: Int
        public var configSha256: String

        enum CodingKeys: String, CodingKey {
            case at, source, result, generation
            case durationMs = "duration_ms"
            case configSha256 = "config_sha256"
        }

        public init(
            at: Double, source: ReloadSource, result: ReloadReport.Result, durationMs: Double, generation: Int,
            configSha256: String
        ) {
            self.at = at
            self.source = source
            self.result = result
            self.durationMs = durationMs
            self.generation = generation
            self.configSha256 = configSha256
        }
    }

    public var generation: Int
    /// Nil until a catalog is live.
    public var configSha256: String?
    public var ready: Bool
    public var servers: Int
    /// Reloads answered so far, by result.
    public var reloads: [String: Int]
    public var sessions: Int
    public var uptimeSeconds: Double
    public var lastReload: LastReload?

    enum CodingKeys: String, CodingKey {
        case generation, ready, servers, reloads, sessions
        case configSha256 = "config_sha256"
        case uptimeSeconds = "uptime_seconds"
        case lastReload = "last_reload"
    }

    public init(
        generation: Int, configSha256: String?, ready: Bool, servers: Int, reloads: [String: Int], sessions: Int,
        uptimeSeconds: Double, lastReload: LastReload?
    ) {
        self.generation = generation
        self.configSha256 = configSha256
        self.ready = ready
        self.servers = servers
        self.reloads = reloads
        self.sessions = sessions
        self.uptimeSeconds = uptimeSeconds
        self.lastReload = lastReload
    }

    /// `config_sha256` and `last_reload` are written as `null` when absent, as they always were.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(generation, forKey: .generation)
        try c.encode(configSha256, forKey: .configSha256)
        try c.encode(ready, forKey: .ready)
        try c.encode(servers, forKey: .servers)
        try c.encode(reloads, forKey: .reloads)
        try c.encode(sessions, forKey: .sessions)
        try c.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try c.encode(lastReload, forKey: .lastReload)
    }
}

/// The life of a backend, as `GET /servers` reports it.
public enum BackendState: String, Sendable, Codable, CaseIterable {
    case cold, starting, ready, draining, stopped, failed
}

/// One server of the live generation: an element of `GET /servers`, the body of `GET /servers/{id}`.
public struct ServerReport: Sendable, Codable, Equatable {
    public var id: String
    public var state: BackendState
    public var generation: Int
    public var inFlight: Int
    public var pid: Int32?
    public var restarts: Int
    public var tools: [String]
    public var runtime: String
    public var instance: Int
    public var lastError: String?
    /// The MCP revision the gateway and the server agreed on when it last started.
    public var protocolVersion: String?

    enum CodingKeys: String, CodingKey {
        case id, state, generation, pid, restarts, tools, runtime, instance
        case protocolVersion = "protocol"
        case inFlight = "in_flight"
        case lastError = "last_error"
    }

    public init(
        id: String, state: BackendState, generation: Int, inFlight: Int, pid: Int32?, restarts: Int, tools: [String],
        runtime: String, instance: Int, lastError: String?, protocolVersion: String? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.id = id
        self.state = state
        self.generation = generation
        self.inFlight = inFlight
        self.pid = pid
        self.restarts = restarts
        self.tools = tools
        self.runtime = runtime
        self.instance = instance
        self.lastError = lastError
    }

    /// `pid` and `last_error` are written as `null` when absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(state, forKey: .state)
        try c.encode(generation, forKey: .generation)
        try c.encode(inFlight, forKey: .inFlight)
        try c.encode(pid, forKey: .pid)
        try c.encode(restarts, forKey: .restarts)
        try c.encode(tools, forKey: .tools)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(instance, forKey: .instance)
        try c.encode(lastError, forKey: .lastError)
        try c.encodeIfPresent(protocolVersion, forKey: .protocolVersion)
    }
}

/// The body of `GET /servers`.
public struct ServerList: Sendable, Codable, Equatable {
    public var generation: Int
    public var servers: [ServerReport]

    public init(generation: Int, servers: [ServerReport]) {
        self.generation = generation
        self.servers = servers
    }
}

/// The body of `POST /servers/{id}/{stop,start,restart}`.
public struct ServerActionReply: Sendable, Codable, Equatable {
    /// `ok`, `failed`, or `refused`.
    public var result: String
    public var server: String?
    public var action: String?
    public var state: BackendState?
    public var pid: Int32?
    public var error: String?
    public var reason: String?
    public var message: String?

    public init(
        result: String, server: String? = nil, action: String? = nil, state: BackendState? = nil, pid: Int32? = nil,
        error: String? = nil
    ) {
        self.result = result
        self.server = server
        self.action = action
        self.state = state
        self.pid = pid
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case result, server, action, state, pid, error, reason, message
    }

    /// `pid` is written as `null` when a successful action left no process (`stop`).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(result, forKey: .result)
        try c.encodeIfPresent(server, forKey: .server)
        try c.encodeIfPresent(action, forKey: .action)
        try c.encodeIfPresent(state, forKey: .state)
        if result == "ok" { try c.encode(pid, forKey: .pid) } else { try c.encodeIfPresent(pid, forKey: .pid) }
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(message, forKey: .message)
    }
}
