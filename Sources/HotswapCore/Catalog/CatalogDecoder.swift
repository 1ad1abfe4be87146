/// Decodes a YAML/JSON tree into a `Catalog`, collecting every problem instead of stopping at the first.
struct CatalogDecoder {
    let environment: EnvironmentPolicy
    private(set) var diagnostics: [CatalogDiagnostic] = []

    init(environment: EnvironmentPolicy) {
        self.environment = environment
    }

    // MARK: Keys of each mapping

    static let topKeys = ["version", "defaults", "servers"]
    static let defaultsKeys = [
        "request_timeout", "start_timeout", "drain_timeout", "idle_ttl", "max_call_duration", "max_concurrency",
    ]
    static let serverKeys = ["id", "description", "runtime", "prestart", "tools"] + defaultsKeys
    static let localKeys = ["type", "command", "args", "env", "working_dir"]
    static let remoteKeys = ["type", "url", "headers", "tls"]
    static let tlsKeys = ["ca_file"]
    static let toolKeys = ["allow", "deny"]
    static let runtimeTypes = ["local-process", "remote"]
    /// Keys `.mcp.json`, Claude Desktop, Cursor, Cline and VS Code write for a server, plus the native
    /// per-server settings. Client-only keys (`autoApprove`, `alwaysAllow`) are accepted and ignored.
    static let mcpEntryKeys =
        [
            "command", "args", "env", "cwd", "type", "transportType", "url", "headers", "disabled", "timeout",
            "autoApprove", "alwaysAllow", "working_dir",
        ] + serverKeys.filter { $0 != "id" && $0 != "runtime" }

    // MARK: Entry points

    mutating func decodeNative(_ root: YAMLNode) -> Catalog? {
        guard let top = mapping(root, .root, what: "the catalog") else { return nil }
        let fields = keyed(top, .root, allowed: Self.topKeys, context: "the top level")
        var version = 1
        if let v = fields["version"] {
            if case .int(let n)? = v.value.scalar?.resolved, n == 1 {
                version = n
            } else {
                error(
                    .root.key("version"), v.value, "unsupported version \(v.value.kindDescription)",
                    hint: "write `version: 1`, the only version there is")
            }
        } else {
            error(.root.key("version"), root, "missing `version`", hint: "start the file with `version: 1`")
        }
        let defaults = fields["defaults"].map { decodeDefaults($0.value, .root.key("defaults")) } ?? CatalogDefaults()
        guard let serversField = fields["servers"] else {
            error(
                .root.key("servers"), root, "missing `servers`",
                hint: "add `servers:` with a list of servers (`servers: []` for none)")
            return nil
        }
        let path = CatalogPath.root.key("servers")
        if case .scalar(let s) = serversField.value.content, s.isNull {
            error(path, serversField.value, "`servers` is empty", hint: "write `servers: []` if you mean no servers")
            return nil
        }
        guard case .sequence(let items) = serversField.value.content else {
            error(
                path, serversField.value, "expected a list of servers, got \(serversField.value.kindDescription)",
                hint: "start each server with `- id: NAME`")
            return nil
        }
        var servers: [ServerDefinition] = []
        var marks: [String: SourceMark] = [:]
        var firstSeen: [String: SourceMark] = [:]
        for (i, item) in items.enumerated() {
            let itemPath = path.index(i)
            guard let pairs = mapping(item, itemPath, what: "a server") else { continue }
            let f = keyed(pairs, itemPath, allowed: Self.serverKeys, context: "a server")
            var id: String?
            if let idField = f["id"] {
                id = serverID(idField.value, itemPath.key("id"), firstSeen: &firstSeen)
            } else {
                error(itemPath.key("id"), item, "missing `id`", hint: "give the server an id: `- id: time`")
            }
            var runtime: Runtime?
            if let r = f["runtime"] {
                runtime = decodeRuntime(r.value, itemPath.key("runtime"))
            } else {
                error(
                    itemPath.key("runtime"), item, "missing `runtime`",
                    hint: "add `runtime: {type: local-process, command: ...}` or `runtime: {type: remote, url: ...}`")
            }
            let common = decodeCommon(f, itemPath, defaults: defaults)
            if let id, let runtime, let common {
                servers.append(
                    ServerDefinition(
                        id: id, description: common.description, runtime: runtime, prestart: common.prestart,
                        tools: common.tools, defaults: common.defaults))
                marks[id] = item.mark
            }
        }
        return Catalog(version: version, servers: servers, marks: marks)
    }

    /// The key of a client config's server map: `mcpServers` (`.mcp.json`, desktop clients), or `servers` as a
    /// map without `version` (VS Code's `.vscode/mcp.json`; the native format's `servers` is a list). Nil for
    /// the native format.
    static func mcpServersKey(_ top: [YAMLNode.Pair]) -> String? {
        if top.contains(where: { $0.key.scalar?.text == "mcpServers" }) { return "mcpServers" }
        guard !top.contains(where: { $0.key.scalar?.text == "version" }),
            let servers = top.first(where: { $0.key.scalar?.text == "servers" }), case .mapping = servers.value.content
        else { return nil }
        return "servers"
    }

    mutating func decodeMCPServers(_ root: YAMLNode) -> Catalog? {
        guard let top = mapping(root, .root, what: "the catalog") else { return nil }
        var serversNode: YAMLNode?
        let key = Self.mcpServersKey(top) ?? "mcpServers"
        for pair in top {
            let name = pair.key.scalar?.text ?? ""
            switch name {
            case key: serversNode = pair.value
            case "inputs" where key == "servers":
                error(
                    .root.key("inputs"), pair.key,
                    "VS Code `inputs` prompt a person for values; the gateway has nobody to ask",
                    hint: "remove `inputs`, put each value in an environment variable of the gateway, and write "
                        + "${env:NAME} (or ${NAME}) where the file had ${input:...}")
            case "servers", "version":
                error(
                    .root.key(name), pair.key, "`\(name)` belongs to the native format, not next to `mcpServers`",
                    hint: "use one format per file: either `version: 1` + `servers:`, or `mcpServers:`")
            default:
                warning(
                    .root.key(name), pair.key, "ignored: only `\(key)` is read from this file",
                    hint: nil)
            }
        }
        guard let serversNode else {
            error(.root.key("mcpServers"), root, "missing `mcpServers`", hint: nil)
            return nil
        }
        let path = CatalogPath.root.key(key)
        if case .scalar(let s) = serversNode.content, s.isNull {
            return Catalog(servers: [])
        }
        guard let entries = mapping(serversNode, path, what: "`mcpServers`") else { return nil }
        var servers: [ServerDefinition] = []
        var marks: [String: SourceMark] = [:]
        var firstSeen: [String: SourceMark] = [:]
        for entry in entries {
            let name = entry.key.scalar?.text ?? ""
            let entryPath = path.key(name)
            let id = serverID(entry.key, entryPath, firstSeen: &firstSeen)
            guard let pairs = mapping(entry.value, entryPath, what: "a server") else { continue }
            let f = keyed(pairs, entryPath, allowed: Self.mcpEntryKeys, context: "an mcpServers entry")
            if let disabled = f["disabled"], bool(disabled.value, entryPath.key("disabled")) == true { continue }
            let runtime = decodeMCPRuntime(f, entry.value, entryPath)
            var common = decodeCommon(f, entryPath, defaults: CatalogDefaults())
            if let t = f["timeout"], f["request_timeout"] == nil,
                let d = duration(t.value, entryPath.key("timeout"))
            {
                common?.defaults.requestTimeout = d
            }
            if let id, let runtime, let common {
                servers.append(
                    ServerDefinition(
                        id: id, description: common.description, runtime: runtime, prestart: common.prestart,
                        tools: common.tools, defaults: common.defaults))
                marks[id] = entry.key.mark
            }
        }
        return Catalog(servers: servers, marks: marks)
    }

    // MARK: Parts

    struct Common {
        var description: String?
        var prestart: Bool
        var tools: ToolFilter
        var defaults: CatalogDefaults
    }

    mutating func decodeCommon(_ f: Fields, _ path: CatalogPath, defaults: CatalogDefaults)
        -> Common?
    {
        var ok = true
        var description: String?
        if let d = f["description"] {
            if case .scalar(let s) = d.value.content, s.isNull {
                description = nil
            } else if let text = string(d.value, path.key("description"), allowEmpty: true) {
                description = text.isEmpty ? nil : text
            } else {
                ok = false
            }
        }
        var prestart = false
        if let p = f["prestart"] {
            if let b = bool(p.value, path.key("prestart")) { prestart = b } else { ok = false }
        }
        var tools = ToolFilter()
        if let t = f["tools"] {
            if let filter = decodeTools(t.value, path.key("tools")) { tools = filter } else { ok = false }
        }
        var merged = defaults
        if !applyDefaults(f, path, into: &merged) { ok = false }
        return ok ? Common(description: description, prestart: prestart, tools: tools, defaults: merged) : nil
    }

    mutating func decodeDefaults(_ node: YAMLNode, _ path: CatalogPath) -> CatalogDefaults {
        var defaults = CatalogDefaults()
        if case .scalar(let s) = node.content, s.isNull { return defaults }
        guard let pairs = mapping(node, path, what: "`defaults`") else { return defaults }
        let f = keyed(pairs, path, allowed: Self.defaultsKeys, context: "`defaults`")
        _ = applyDefaults(f, path, into: &defaults)
        return defaults
    }

    /// Reads the timeout and concurrency keys present in `f` over `defaults`. False when one is invalid.
    mutating func applyDefaults(
        _ f: Fields, _ path: CatalogPath, into defaults: inout CatalogDefaults
    ) -> Bool {
        var ok = true
        let durations: [(String, WritableKeyPath<CatalogDefaults, CatalogDuration>)] = [
            ("request_timeout", \.requestTimeout), ("start_timeout", \.startTimeout),
            ("drain_timeout", \.drainTimeout), ("idle_ttl", \.idleTTL), ("max_call_duration", \.maxCallDuration),
        ]
        for (key, keyPath) in durations {
            guard let field = f[key] else { continue }
            if let d = duration(field.value, path.key(key)) {
                if key != "idle_ttl" && key != "max_call_duration" && d.milliseconds == 0 {
                    error(
                        path.key(key), field.value, "must be more than zero",
                        hint: "a zero \(key) would fail every call; use e.g. `30s`")
                    ok = false
                } else {
                    defaults[keyPath: keyPath] = d
                }
            } else {
                ok = false
            }
        }
        if let m = f["max_concurrency"] {
            if case .int(let n)? = m.value.scalar?.resolved, n >= 1, n <= 1_000_000 {
                defaults.maxConcurrency = n
            } else {
                error(
                    path.key("max_concurrency"), m.value,
                    "expected a whole number from 1 to 1000000, got \(m.value.kindDescription)",
                    hint: "e.g. `max_concurrency: 64`")
                ok = false
            }
        }
        return ok
    }

    // MARK: Reporting

    mutating func error(_ path: CatalogPath, _ node: YAMLNode, _ message: String, hint: String?) {
        diagnostics.append(
            CatalogDiagnostic(.error, path: path.description, mark: node.mark, message: message, hint: hint))
    }

    mutating func warning(_ path: CatalogPath, _ node: YAMLNode, _ message: String, hint: String?) {
        diagnostics.append(
            CatalogDiagnostic(.warning, path: path.description, mark: node.mark, message: message, hint: hint))
    }
}

/// The entries of one mapping by key. Mappings hold a handful of keys, so a list beats a dictionary.
struct Fields {
    var pairs: [(String, YAMLNode.Pair)] = []

    subscript(_ key: String) -> YAMLNode.Pair? {
        pairs.first { $0.0 == key }?.1
    }
}
