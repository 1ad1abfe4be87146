extension CatalogDecoder {
    mutating func decodeRuntime(_ node: YAMLNode, _ path: CatalogPath) -> Runtime? {
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

    mutating func decodeMCPRuntime(_ f: Fields, _ node: YAMLNode, _ path: CatalogPath)
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
            // A pasted client config often carries one legacy entry: leave it out and serve the rest.
            warning(
                path.key("type"), typeField!.value,
                "left out: the 2024-11-05 HTTP+SSE transport is not supported; hotswap speaks Streamable HTTP",
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

    mutating func decodeLocal(
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

    mutating func decodeRemote(_ f: Fields, _ node: YAMLNode, _ path: CatalogPath)
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
        var caFile: String?
        if let t = f["tls"], !(t.value.scalar?.isNull ?? false) {
            if let pairs = mapping(t.value, path.key("tls"), what: "`tls`") {
                let tls = keyed(pairs, path.key("tls"), allowed: Self.tlsKeys, context: "`tls`")
                if let c = tls["ca_file"] {
                    caFile = expanded(c.value, path.key("tls").key("ca_file"), allowEmpty: false)
                    if caFile == nil { ok = false }
                }
            } else {
                ok = false
            }
        }
        guard ok, let url else { return nil }
        return .remote(.init(url: url, headers: headers, caFile: caFile, urlAsWritten: f["url"]?.value.scalar?.text))
    }

    mutating func decodeTools(_ node: YAMLNode, _ path: CatalogPath) -> ToolFilter? {
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
}
