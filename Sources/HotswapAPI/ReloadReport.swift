import HotswapCore

/// Where a reload came from, as logs, metrics and `/stats` name it.
public enum ReloadSource: String, Sendable, Codable {
    case startup, socket, http, sighup, watch
}

/// What a reload did: the JSON body of `POST /admin/reload`, and of every refusal on that route.
public struct ReloadReport: Sendable, Codable, Equatable {
    public enum Result: String, Sendable, Codable {
        case applied, unchanged, rejected
        case rolledBack = "rolled_back"
        case refused
        case dryRun = "dry_run"
    }

    /// One catalog error, with its place and a next step.
    public struct ErrorItem: Sendable, Codable, Hashable {
        public var path: String
        public var line: Int
        public var column: Int
        public var message: String
        public var hint: String?

        public init(path: String, line: Int, column: Int, message: String, hint: String?) {
            self.path = path
            self.line = line
            self.column = column
            self.message = message
            self.hint = hint
        }
    }

    public var result: Result
    public var generation: Int
    public var configSha256: String
    public var source: ReloadSource
    public var added: [String] = []
    public var removed: [String] = []
    public var modified: [String] = []
    public var unchanged: [String] = []
    public var changedFields: [String: [String]]?
    public var serversLoaded: Int = 0
    public var durationMs: Double = 0
    public var errors: [ErrorItem]?
    public var server: String?
    public var error: String?
    public var reason: String?
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case result, generation, source, added, removed, modified, unchanged, errors, server, error, reason, message
        case configSha256 = "config_sha256"
        case changedFields = "changed_fields"
        case serversLoaded = "servers_loaded"
        case durationMs = "duration_ms"
    }

    public init(result: Result, generation: Int, configSha256: String, source: ReloadSource) {
        self.result = result
        self.generation = generation
        self.configSha256 = configSha256
        self.source = source
    }

    /// A refusal made before a reload was ever considered (its token, its caller).
    public static func refusal(reason: String, message: String, source: ReloadSource = .http) -> ReloadReport {
        var r = ReloadReport(result: .refused, generation: 0, configSha256: "", source: source)
        r.reason = reason
        r.message = message
        return r
    }

    /// Refusals from the edge carry only `result`, `reason` and `message`: everything else is optional on the wire.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        result = try c.decode(Result.self, forKey: .result)
        generation = try c.decodeIfPresent(Int.self, forKey: .generation) ?? 0
        configSha256 = try c.decodeIfPresent(String.self, forKey: .configSha256) ?? ""
        source = try c.decodeIfPresent(ReloadSource.self, forKey: .source) ?? .http
        added = try c.decodeIfPresent([String].self, forKey: .added) ?? []
        removed = try c.decodeIfPresent([String].self, forKey: .removed) ?? []
        modified = try c.decodeIfPresent([String].self, forKey: .modified) ?? []
        unchanged = try c.decodeIfPresent([String].self, forKey: .unchanged) ?? []
        changedFields = try c.decodeIfPresent([String: [String]].self, forKey: .changedFields)
        serversLoaded = try c.decodeIfPresent(Int.self, forKey: .serversLoaded) ?? 0
        durationMs = try c.decodeIfPresent(Double.self, forKey: .durationMs) ?? 0
        errors = try c.decodeIfPresent([ErrorItem].self, forKey: .errors)
        server = try c.decodeIfPresent(String.self, forKey: .server)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        message = try c.decodeIfPresent(String.self, forKey: .message)
    }

    /// 200 applied/unchanged/dry run, 422 rejected, 409 rolled back, 401/403 refused.
    public var httpStatus: Int {
        switch result {
        case .applied, .unchanged, .dryRun: return 200
        case .rejected: return 422
        case .rolledBack: return 409
        case .refused: return TokenRefusal.Reason(rawValue: reason ?? "")?.httpStatus ?? 401
        }
    }

    /// True when the content is live after this reload.
    public var isLive: Bool { result == .applied || result == .unchanged }

    /// One line for a log or a terminal: what was refused and why.
    public var summary: String {
        switch result {
        case .applied, .unchanged, .dryRun:
            return "\(result.rawValue): generation \(generation), \(configSha256)"
        case .rejected:
            let lines = (errors ?? []).map { "\($0.line):\($0.column): \($0.path): \($0.message)" }
            return "rejected: " + (lines.isEmpty ? message ?? "" : lines.joined(separator: "; "))
        case .rolledBack:
            return "rolled back: server '\(server ?? "?")': \(error ?? "")"
        case .refused:
            return "token refused: \(reason ?? ""): \(message ?? "")"
        }
    }
}
