/// Decodes a YAML/JSON tree into a `Catalog`, collecting every problem instead of stopping at the first.
struct CatalogDecoder {
    let environment: EnvironmentPolicy
    private(set) var diagnostics: [CatalogDiagnostic] = []

    init(environment: EnvironmentPolicy) {
        self.environment = environment
    }

    // MARK: Keys of each mapping

    static let topKeys = ["version", "defaults", "servers"]
    static let defaultsKeys = ["request_timeout", "start_timeout", "drain_timeout", "idle_ttl", "max_concurrency"]
    static let serverKeys = ["id", "description", "runtime", "prestart", "tools"] + defaultsKeys
    static let localKeys = ["type", "command", "args", "env", "working_dir"]
    static let remoteKeys = ["type", "url", "headers"]
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

    mutating func decodeMCPServers(_ root: YAMLNode) -> Catalog? {
        guard let top = mapping(root, .root, what: "the catalog") else { return nil }
        var serversNode: YAMLNode?
        for pair in top {
            let key = pair.key.scalar?.text ?? ""
            switch key {
            case "mcpServers": serversNode = pair.value
            case "servers", "version":
                error(
                    .root.key(key), pair.key, "`\(key)` belongs to the native format, not next to `mcpServers`",
                    hint: "use one format per file: either `version: 1` + `servers:`, or `mcpServers:`")
            default:
                warning(
                    .root.key(key), pair.key, "ignored: only `mcpServers` is read from this file",
                    hint: nil)
            }
        }
        guard let serversNode else {
            error(.root.key("mcpServers"), root, "missing `mcpServers`", hint: nil)
            return nil
        }
        let path = CatalogPath.root.key("mcpServers")
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

    private struct Common {
        var description: String?
        var prestart: Bool
        var tools: ToolFilter
        var defaults: CatalogDefaults
    }

    private mutating func decodeCommon(_ f: Fields, _ path: CatalogPath, defaults: CatalogDefaults)
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

    private mutating func decodeDefaults(_ node: YAMLNode, _ path: CatalogPath) -> CatalogDefaults {
        var defaults = CatalogDefaults()
        if case .scalar(let s) = node.content, s.isNull { return defaults }
        guard let pairs = mapping(node, path, what: "`defaults`") else { return defaults }
        let f = keyed(pairs, path, allowed: Self.defaultsKeys, context: "`defaults`")
        _ = applyDefaults(f, path, into: &defaults)
        return defaults
    }

    /// Reads the timeout and concurrency keys present in `f` over `defaults`. False when one is invalid.
    private mutating func applyDefaults(
        _ f: Fields, _ path: CatalogPath, into defaults: inout CatalogDefaults
    ) -> Bool {
        var ok = true
        let durations: [(String, WritableKeyPath<CatalogDefaults, CatalogDuration>)] = [
            ("request_timeout", \.requestTimeout), ("start_timeout", \.startTimeout),
            ("drain_timeout", \.drainTimeout), ("idle_ttl", \.idleTTL),
        ]
        for (key, keyPath) in durations {
            guard let field = f[key] else { continue }
            if let d = duration(field.value, path.key(key)) {
                if key != "idle_ttl" && d.milliseconds == 0 {
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

    private mutating func decodeRuntime(_ node: YAMLNode, _ path: CatalogPath) -> Runtime? {
        guard let pairs = mapping(node, path, what: "`runtime`") else { return nil }
        guard let typePair = pairs.first(where: { $0.key.scalar?.text == "type" }) else {
            error(
                path.key("type"), node, "missing `type`",
                hint: "add `type: local-process` (a command to run) or `type: remote` (a URL)")
            _ = keyed(pairs, path, allowed: Self.localKeys + Self.remoteKeys, context: "`runtime`")
            return nil
        }
        guard let type = string(typePair.value, path.key("type"), allowEmpty: false) else { return nil }
        switch type {
        case "local-process":
            let f = keyed(
                pairs, path, allowed: Self.localKeys, context: "a local-process runtime", other: Self.remoteKeys)
            return decodeLocal(f, node, path, commandKey: "command", workingDirKey: "working_dir")
        case "remote":
            let f = keyed(pairs, path, allowed: Self.remoteKeys, context: "a remote runtime", other: Self.localKeys)
            return decodeRemote(f, node, path)
        default:
            _ = keyed(pairs, path, allowed: Self.localKeys + Self.remoteKeys, context: "`runtime`")
            let guess = Suggestion.closest(to: type, in: Self.runtimeTypes)
            error(
                path.key("type"), typePair.value, "unknown runtime type '\(type)'",
                hint: guess.map { "did you mean '\($0)'?" } ?? "use `local-process` or `remote`")
            return nil
        }
    }

    private mutating func decodeMCPRuntime(_ f: Fields, _ node: YAMLNode, _ path: CatalogPath)
        -> Runtime?
    {
        let typeField = f["type"] ?? f["transportType"]
        var type: String?
        if let typeField {
            type = string(typeField.value, path.key(typeField.key.scalar?.text ?? "type"), allowEmpty: false)
            if type == nil { return nil }
        }
        let isRemote: Bool
        switch type {
        case nil:
            if f["command"] != nil && f["url"] != nil {
                error(
                    path, node, "has both `command` and `url`",
                    hint: "a server is either a command to run or a URL; add `type: stdio` or `type: http`")
                return nil
            }
            isRemote = f["url"] != nil
        case "stdio": isRemote = false
        case "http", "streamable-http", "streamableHttp", "streamable_http": isRemote = true
        case "sse":
            error(
                path.key("type"), typeField!.value,
                "the 2024-11-05 HTTP+SSE transport is not supported; hotswap speaks Streamable HTTP",
                hint: "point `url` at the server's Streamable HTTP endpoint and write `type: http`")
            return nil
        default:
            error(
                path.key("type"), typeField!.value, "unknown transport type '\(type!)'",
                hint: "use `stdio` (with `command`) or `http` (with `url`)")
            return nil
        }
        if isRemote {
            for key in ["command", "args", "env", "cwd", "working_dir"] {
                if let p = f[key] {
                    error(path.key(key), p.key, "`\(key)` applies to a stdio server, not an http one", hint: nil)
                }
            }
            return decodeRemote(f, node, path)
        }
        for key in ["url", "headers"] {
            if let p = f[key] {
                error(path.key(key), p.key, "`\(key)` applies to an http server, not a stdio one", hint: nil)
            }
        }
        return decodeLocal(f, node, path, commandKey: "command", workingDirKey: f["cwd"] != nil ? "cwd" : "working_dir")
    }

    private mutating func decodeLocal(
        _ f: Fields, _ node: YAMLNode, _ path: CatalogPath, commandKey: String,
        workingDirKey: String
    ) -> Runtime? {
        var ok = true
        var command: String?
        if let c = f[commandKey] {
            if case .sequence = c.value.content {
                error(
                    path.key(commandKey), c.value, "expected the program to run as a string, got a list",
                    hint: "put the program in `command` and its arguments in `args`")
            } else {
                command = expanded(c.value, path.key(commandKey), allowEmpty: false)
            }
        } else {
            error(
                path.key("command"), node, "missing `command`",
                hint: "a local process needs the program to run, e.g. `command: mcp-server-time`")
        }
        var args: [String] = []
        if let a = f["args"] {
            if let list = stringList(a.value, path.key("args"), expand: true) { args = list } else { ok = false }
        }
        var env: [String: String] = [:]
        if let e = f["env"] {
            if let map = stringMap(e.value, path.key("env"), kind: .environment) { env = map } else { ok = false }
        }
        var workingDir: String?
        if let w = f[workingDirKey] {
            if let dir = expanded(w.value, path.key(workingDirKey), allowEmpty: false) {
                workingDir = dir
            } else {
                ok = false
            }
        }
        guard ok, let command else { return nil }
        let written = Runtime.LocalProcess.Written(
            command: f[commandKey]?.value.scalar?.text ?? command,
            workingDir: f[workingDirKey].map { $0.value.scalar?.text ?? "" })
        return .localProcess(
            .init(command: command, args: args, env: env, workingDir: workingDir, asWritten: written))
    }

    private mutating func decodeRemote(_ f: Fields, _ node: YAMLNode, _ path: CatalogPath)
        -> Runtime?
    {
        var url: String?
        if let u = f["url"] {
            if let text = expanded(u.value, path.key("url"), allowEmpty: false) {
                if Self.isHTTPURL(text) || !environment.isExpanding && text.hasPrefix("${") {
                    url = text
                } else {
                    // The message quotes the URL as written: an expanded `${VAR}` may hold a secret.
                    let written = u.value.scalar?.text ?? text
                    let expandedNote = written == text ? "" : " once expanded"
                    error(
                        path.key("url"), u.value,
                        "'\(written)'\(expandedNote) is not an http:// or https:// URL with a host",
                        hint: "write the full endpoint, e.g. `https://search.internal/mcp`")
                }
            }
        } else {
            error(
                path.key("url"), node, "missing `url`",
                hint: "a remote server needs its endpoint, e.g. `url: https://host/mcp`")
        }
        var headers: [String: String] = [:]
        var ok = true
        if let h = f["headers"] {
            if let map = stringMap(h.value, path.key("headers"), kind: .header) { headers = map } else { ok = false }
        }
        guard ok, let url else { return nil }
        return .remote(.init(url: url, headers: headers, urlAsWritten: f["url"]?.value.scalar?.text))
    }

    private mutating func decodeTools(_ node: YAMLNode, _ path: CatalogPath) -> ToolFilter? {
        if case .scalar(let s) = node.content, s.isNull { return ToolFilter() }
        guard let pairs = mapping(node, path, what: "`tools`") else { return nil }
        let f = keyed(pairs, path, allowed: Self.toolKeys, context: "`tools`")
        var ok = true
        var allow: [String]?
        var deny: [String] = []
        if let a = f["allow"] {
            if let list = stringList(a.value, path.key("allow"), expand: false) { allow = list } else { ok = false }
        }
        if let d = f["deny"] {
            if let list = stringList(d.value, path.key("deny"), expand: false) { deny = list } else { ok = false }
        }
        return ok ? ToolFilter(allow: allow, deny: deny) : nil
    }

    // MARK: Values

    private mutating func serverID(_ node: YAMLNode, _ path: CatalogPath, firstSeen: inout [String: SourceMark])
        -> String?
    {
        guard let id = string(node, path, allowEmpty: false) else { return nil }
        guard Self.isValidID(id) else {
            let suggestion = Self.suggestID(id)
            error(
                path, node, "'\(id)' is not a valid server id (lowercase letters, digits and '-', at most 63)",
                hint: suggestion.map { "the id prefixes tool names (`ID__tool`); try '\($0)'" })
            return nil
        }
        if let first = firstSeen[id] {
            error(
                path, node, "duplicate server id '\(id)' (first defined at line \(first.line))",
                hint: "ids must be unique: rename or remove one of them")
            return nil
        }
        firstSeen[id] = node.mark
        return id
    }

    static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func ok(_ b: UInt8, first: Bool) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || (!first && b == 0x2D)
        }
        return ok(bytes[0], first: true) && bytes.dropFirst().allSatisfy { ok($0, first: false) }
    }

    static func suggestID(_ id: String) -> String? {
        var out = ""
        for c in id.lowercased() {
            if c.isASCII && (c.isLetter || c.isNumber) {
                out.append(c)
            } else if !out.isEmpty && out.last != "-" {
                out.append("-")
            }
        }
        while out.last == "-" { out.removeLast() }
        out = String(out.prefix(63))
        return isValidID(out) ? out : nil
    }

    private static func isHTTPURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            return false
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return !host.isEmpty && !host.contains(" ") && !host.hasPrefix(":")
    }

    /// The pairs of a mapping, or nil (with an error) when the node is something else.
    private mutating func mapping(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, what: String) -> [YAMLNode
        .Pair]?
    {
        if case .mapping(let pairs) = node.content { return pairs }
        error(path(), node, "expected \(what) to be a mapping (key: value), got \(node.kindDescription)", hint: nil)
        return nil
    }

    /// Indexes a mapping's pairs by key, reporting keys that are not `allowed` (with a suggestion).
    /// `other` names keys that are valid elsewhere, for a more precise message.
    private mutating func keyed(
        _ pairs: [YAMLNode.Pair], _ path: @autoclosure () -> CatalogPath, allowed: [String], context: String,
        other: [String] = []
    ) -> Fields {
        var out = Fields()
        for pair in pairs {
            guard let key = pair.key.scalar?.text else {
                error(path(), pair.key, "a key must be a plain word, got \(pair.key.kindDescription)", hint: nil)
                continue
            }
            if allowed.contains(key) {
                out.pairs.append((key, pair))
            } else if other.contains(key) {
                error(
                    path().key(key), pair.key, "`\(key)` does not apply to \(context)",
                    hint: "remove it, or change `type`")
            } else {
                let guess = Suggestion.closest(to: key, in: allowed)
                error(
                    path().key(key), pair.key, "unknown key '\(key)' in \(context)",
                    hint: guess.map { "did you mean '\($0)'?" }
                        ?? "known keys here: \(allowed.joined(separator: ", "))")
            }
        }
        return out
    }

    /// A scalar read as text. Numbers and booleans are taken as written (`port: 8080` → "8080"); null,
    /// lists and mappings are errors.
    private mutating func string(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, allowEmpty: Bool) -> String?
    {
        guard case .scalar(let s) = node.content else {
            error(path(), node, "expected a string, got \(node.kindDescription)", hint: nil)
            return nil
        }
        if s.isNull {
            error(path(), node, "is empty", hint: allowEmpty ? "write \"\" for an empty string" : "give it a value")
            return nil
        }
        if !allowEmpty && s.text.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
            error(path(), node, "must not be empty", hint: nil)
            return nil
        }
        return s.text
    }

    /// A string with `${VAR}` references expanded per the environment policy.
    private mutating func expanded(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, allowEmpty: Bool)
        -> String?
    {
        guard let text = string(node, path(), allowEmpty: allowEmpty) else { return nil }
        switch EnvironmentExpansion.expand(text, policy: environment) {
        case .success(let value): return value
        case .failure(let failure):
            error(path(), node, failure.message, hint: failure.hint)
            return nil
        }
    }

    private mutating func bool(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath) -> Bool? {
        if case .bool(let b)? = node.scalar?.resolved { return b }
        error(path(), node, "expected true or false, got \(node.kindDescription)", hint: nil)
        return nil
    }

    private mutating func duration(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath) -> CatalogDuration? {
        if let s = node.scalar, s.resolved != .null, let d = CatalogDuration.parse(s.text) { return d }
        let negative = node.scalar?.text.trimmingSpaces().hasPrefix("-") ?? false
        error(
            path(), node, negative ? "a duration cannot be negative" : "'\(node.scalar?.text ?? "")' is not a duration",
            hint: "write e.g. `500ms`, `30s`, `10m`, `1h`, or a number of seconds")
        return nil
    }

    private mutating func stringList(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, expand: Bool)
        -> [String]?
    {
        if case .scalar(let s) = node.content, s.isNull { return [] }
        guard case .sequence(let items) = node.content else {
            error(
                path(), node, "expected a list, got \(node.kindDescription)",
                hint: "write a list: `[\"--flag\", \"value\"]` or one `- item` per line")
            return nil
        }
        var out: [String] = []
        var ok = true
        for (i, item) in items.enumerated() {
            let value =
                expand
                ? expanded(item, path().index(i), allowEmpty: true) : string(item, path().index(i), allowEmpty: false)
            if let value { out.append(value) } else { ok = false }
        }
        return ok ? out : nil
    }

    private enum MapKind { case environment, header }

    private mutating func stringMap(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, kind: MapKind) -> [String:
        String]?
    {
        if case .scalar(let s) = node.content, s.isNull { return [:] }
        guard case .mapping(let pairs) = node.content else {
            if case .sequence = node.content, kind == .environment {
                error(
                    path(), node, "expected a mapping of NAME: value, got a list",
                    hint: "write `env: {NAME: value}`, not a list of NAME=value")
            } else {
                error(path(), node, "expected a mapping of name: value, got \(node.kindDescription)", hint: nil)
            }
            return nil
        }
        var out: [String: String] = [:]
        var ok = true
        for pair in pairs {
            guard let name = pair.key.scalar?.text, !name.isEmpty else {
                error(path(), pair.key, "a name must be a non-empty string", hint: nil)
                ok = false
                continue
            }
            // Built only when there is something to report.
            func p() -> CatalogPath { path().key(name) }
            switch kind {
            case .environment where name.contains("=") || name.contains("\0"):
                error(p(), pair.key, "'\(name)' is not a valid environment variable name", hint: "remove the '='")
                ok = false
                continue
            case .header where !name.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ":" }):
                error(p(), pair.key, "'\(name)' is not a valid HTTP header name", hint: nil)
                ok = false
                continue
            default: break
            }
            guard let value = expanded(pair.value, p(), allowEmpty: true) else {
                ok = false
                continue
            }
            if kind == .header && (value.contains("\r") || value.contains("\n")) {
                error(p(), pair.value, "a header value cannot contain a line break", hint: nil)
                ok = false
                continue
            }
            out[name] = value
        }
        return ok ? out : nil
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
