extension CatalogDecoder {
    // MARK: Values

    mutating func serverID(_ node: YAMLNode, _ path: CatalogPath, firstSeen: inout [String: SourceMark])
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

    static func isHTTPURL(_ text: String) -> Bool {
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
    mutating func mapping(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, what: String) -> [YAMLNode
        .Pair]?
    {
        if case .mapping(let pairs) = node.content { return pairs }
        error(path(), node, "expected \(what) to be a mapping (key: value), got \(node.kindDescription)", hint: nil)
        return nil
    }

    /// Indexes a mapping's pairs by key, reporting keys that are not `allowed` (with a suggestion).
    /// `other` names keys that are valid elsewhere, for a more precise message.
    mutating func keyed(
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
    mutating func string(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, allowEmpty: Bool) -> String? {
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
    mutating func expanded(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, allowEmpty: Bool)
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

    mutating func bool(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath) -> Bool? {
        if case .bool(let b)? = node.scalar?.resolved { return b }
        error(path(), node, "expected true or false, got \(node.kindDescription)", hint: nil)
        return nil
    }

    mutating func duration(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath) -> CatalogDuration? {
        if let s = node.scalar, s.resolved != .null, let d = CatalogDuration.parse(s.text) { return d }
        let negative = node.scalar?.text.trimmingSpaces().hasPrefix("-") ?? false
        error(
            path(), node, negative ? "a duration cannot be negative" : "'\(node.scalar?.text ?? "")' is not a duration",
            hint: "write e.g. `500ms`, `30s`, `10m`, `1h`, or a number of seconds")
        return nil
    }

    mutating func stringList(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, expand: Bool)
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

    enum MapKind { case environment, header }

    mutating func stringMap(_ node: YAMLNode, _ path: @autoclosure () -> CatalogPath, kind: MapKind) -> [String:
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
}
