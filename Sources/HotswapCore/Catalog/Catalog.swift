/// A validated, normalized catalog: every default applied, every `${VAR}` expanded, `{}` and absent alike.
///
/// Two catalogs that mean the same compare equal server by server, whatever their spelling.
public struct Catalog: Sendable {
    /// The format version; 1 is the only one.
    public var version: Int
    /// Servers in source order. Ids are unique.
    public var servers: [ServerDefinition]
    /// Where each server is defined, by id, for messages.
    public var marks: [String: SourceMark]

    public init(version: Int = 1, servers: [ServerDefinition], marks: [String: SourceMark] = [:]) {
        self.version = version
        self.servers = servers
        self.marks = marks
    }

    public func server(_ id: String) -> ServerDefinition? { servers.first { $0.id == id } }
}

/// One MCP server of the catalog, normalized.
///
/// Equality is synthesized over every stored property: a field added here is compared by `CatalogDiff`
/// without anyone remembering to add it to a list.
public struct ServerDefinition: Sendable, Hashable, Encodable {
    public var id: String
    public var description: String?
    public var runtime: Runtime
    /// Start (and initialize) during the reload, before the swap, rather than on first use.
    public var prestart: Bool
    public var tools: ToolFilter
    public var requestTimeout: CatalogDuration
    /// How long a start (spawn, `initialize`, the first `tools/list`) may take before it fails.
    public var startTimeout: CatalogDuration
    public var drainTimeout: CatalogDuration
    /// Stop an idle local process after this long; zero means never.
    public var idleTTL: CatalogDuration
    /// A hard ceiling on one call, however much progress it reports; zero means none.
    public var maxCallDuration: CatalogDuration
    public var maxConcurrency: Int

    enum CodingKeys: String, CodingKey {
        case id, description, runtime, prestart, tools
        case requestTimeout = "request_timeout"
        case startTimeout = "start_timeout"
        case drainTimeout = "drain_timeout"
        case idleTTL = "idle_ttl"
        case maxCallDuration = "max_call_duration"
        case maxConcurrency = "max_concurrency"
    }

    public init(
        id: String, description: String? = nil, runtime: Runtime, prestart: Bool = false,
        tools: ToolFilter = ToolFilter(), defaults: CatalogDefaults = CatalogDefaults()
    ) {
        self.id = id
        self.description = description
        self.runtime = runtime
        self.prestart = prestart
        self.tools = tools
        self.requestTimeout = defaults.requestTimeout
        self.startTimeout = defaults.startTimeout
        self.drainTimeout = defaults.drainTimeout
        self.idleTTL = defaults.idleTTL
        self.maxCallDuration = defaults.maxCallDuration
        self.maxConcurrency = defaults.maxConcurrency
    }
}

/// How a server runs.
public enum Runtime: Sendable, Hashable, Encodable {
    /// A child process speaking newline-delimited JSON-RPC on stdio.
    case localProcess(LocalProcess)
    /// An MCP server reached over Streamable HTTP.
    case remote(Remote)

    public struct LocalProcess: Sendable, Hashable, Encodable {
        public var command: String
        public var args: [String]
        public var env: [String: String]
        public var workingDir: String?
        /// The command and working directory as the catalog spells them, `${VAR}` unexpanded: what messages,
        /// logs and the API show, so an expanded secret never leaves the process.
        public var asWritten: AsWritten<Written>

        public struct Written: Sendable {
            public var command: String
            public var workingDir: String?
        }

        enum CodingKeys: String, CodingKey {
            case command, args, env
            case workingDir = "working_dir"
        }

        public init(
            command: String, args: [String] = [], env: [String: String] = [:], workingDir: String? = nil,
            asWritten: Written? = nil
        ) {
            self.command = command
            self.args = args
            self.env = env
            self.workingDir = workingDir
            self.asWritten = AsWritten(asWritten ?? Written(command: command, workingDir: workingDir))
        }
    }

    public struct Remote: Sendable, Hashable, Encodable {
        public var url: String
        public var headers: [String: String]
        /// A PEM file of CA certificates trusted for this server besides the system's (`tls.ca_file`).
        public var caFile: String?
        /// The URL as the catalog spells it, `${VAR}` unexpanded, for messages.
        public var urlAsWritten: AsWritten<String>

        enum CodingKeys: String, CodingKey {
            case url, headers
            case caFile = "ca_file"
        }

        public init(url: String, headers: [String: String] = [:], caFile: String? = nil, urlAsWritten: String? = nil) {
            self.url = url
            self.headers = headers
            self.caFile = caFile
            self.urlAsWritten = AsWritten(urlAsWritten ?? url)
        }
    }

    /// The catalog's name for the runtime type.
    public var typeName: String {
        switch self {
        case .localProcess: return "local-process"
        case .remote: return "remote"
        }
    }

    private enum TypeKey: String, CodingKey { case type }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        try c.encode(typeName, forKey: .type)
        switch self {
        case .localProcess(let p): try p.encode(to: encoder)
        case .remote(let r): try r.encode(to: encoder)
        }
    }
}

/// A value kept only to be shown: how the catalog wrote a field before `${VAR}` expansion. It takes no part in
/// equality (the expanded value is what a server means) and is never encoded (so never diffed or printed).
public struct AsWritten<Value: Sendable>: Sendable, Hashable {
    public var value: Value

    public init(_ value: Value) { self.value = value }

    public static func == (a: AsWritten, b: AsWritten) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}

/// Which of a server's tools the gateway exposes. Absent lists mean "all"; `allow: []` means none.
public struct ToolFilter: Sendable, Hashable, Encodable {
    /// Sorted and unique; nil allows every tool.
    public var allow: [String]?
    /// Sorted and unique.
    public var deny: [String]

    public init(allow: [String]? = nil, deny: [String] = []) {
        self.allow = allow.map { Array(Set($0)).sorted() }
        self.deny = Array(Set(deny)).sorted()
    }

    public func permits(_ tool: String) -> Bool {
        if deny.contains(tool) { return false }
        return allow?.contains(tool) ?? true
    }
}

/// The `defaults:` block: values every server inherits unless it sets its own.
public struct CatalogDefaults: Sendable, Hashable {
    /// 30 s: long enough for a slow tool, short enough that a hung server does not pin a client forever.
    public var requestTimeout = CatalogDuration(milliseconds: 30_000)
    /// 10 s: a server that has not answered `initialize` and `tools/list` by then is stuck (or still
    /// downloading), and a warm start must not hold the reload path longer than that.
    public var startTimeout = CatalogDuration(milliseconds: 10_000)
    /// 30 s: in-flight calls on a removed or replaced server get this long to finish.
    public var drainTimeout = CatalogDuration(milliseconds: 30_000)
    /// 10 min: an idle local process is stopped to give back its memory.
    public var idleTTL = CatalogDuration(milliseconds: 600_000)
    /// None: a call that keeps reporting progress may run as long as it does (each report restarts its
    /// `request_timeout`); set one to bound every call however lively.
    public var maxCallDuration = CatalogDuration(milliseconds: 0)
    /// 64 concurrent calls per server.
    public var maxConcurrency = 64

    public init() {}
}

/// A non-negative duration from the catalog, kept in milliseconds.
public struct CatalogDuration: Sendable, Hashable, Comparable, Encodable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (a: CatalogDuration, b: CatalogDuration) -> Bool { a.milliseconds < b.milliseconds }

    public var duration: Duration { .milliseconds(milliseconds) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(milliseconds)
    }

    /// The shortest exact spelling: `500ms`, `30s`, `10m`, `1h`, `1h30m`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        var s = milliseconds / 1000
        var out = ""
        if s >= 3600 {
            out += "\(s / 3600)h"
            s %= 3600
        }
        if s >= 60 {
            out += "\(s / 60)m"
            s %= 60
        }
        if s > 0 { out += "\(s)s" }
        return out
    }

    /// Parses `500ms`, `30s`, `10m`, `1h`, `1h30m`, `1.5s`, or a bare number of seconds.
    /// Returns nil for anything else, including negative values.
    public static func parse(_ text: String) -> CatalogDuration? {
        let t = text.trimmingSpaces()
        guard !t.isEmpty, !t.hasPrefix("-") else { return nil }
        if let seconds = Double(t), seconds.isFinite, seconds >= 0 {
            return fromMillis(seconds * 1000)
        }
        var total = 0.0
        var rest = Substring(t)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value
            case "s": total += value * 1000
            case "m": total += value * 60_000
            case "h": total += value * 3_600_000
            default: return nil
            }
        }
        return fromMillis(total)
    }

    private static func fromMillis(_ ms: Double) -> CatalogDuration? {
        // A year is far beyond any sensible timeout; the bound keeps the Int64 conversion safe.
        guard ms.isFinite, ms >= 0, ms <= 365 * 86_400_000 else { return nil }
        return CatalogDuration(milliseconds: Int64(ms.rounded()))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
