/// How `${VAR}` references in a catalog are treated.
public enum EnvironmentPolicy: Sendable {
    /// Expand from this environment; a variable that is unset is an error (`${VAR:-default}` gives a fallback).
    case expand([String: String])
    /// Check the syntax only and keep the references as written. For a sidecar, whose environment is not the
    /// gateway's: the gateway expands (and reports unset variables) when it applies the catalog.
    case syntaxOnly
}

/// Expands `${NAME}` and `${NAME:-fallback}`; `$$` is a literal `$`; a `$` not followed by `{` stays as it is.
enum EnvironmentExpansion {
    struct Failure: Error {
        var message: String
        var hint: String?
    }

    static func expand(_ text: String, policy: EnvironmentPolicy) -> Result<String, Failure> {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "$")) else { return .success(text) }
        let dollar = UInt8(ascii: "$")
        let open = UInt8(ascii: "{")
        let close = UInt8(ascii: "}")
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard bytes[i] == dollar else {
                out.append(bytes[i])
                i += 1
                continue
            }
            if i + 1 < bytes.count, bytes[i + 1] == dollar {
                out += policy.isExpanding ? [dollar] : [dollar, dollar]
                i += 2
                continue
            }
            guard i + 1 < bytes.count, bytes[i + 1] == open else {
                out.append(dollar)
                i += 1
                continue
            }
            guard let end = bytes[(i + 2)...].firstIndex(of: close) else {
                return .failure(
                    Failure(message: "'${' is not closed by '}'", hint: "write ${NAME}, or $${ for a literal '${'"))
            }
            let body = String(decoding: bytes[(i + 2)..<end], as: UTF8.self)
            var name: Substring
            var fallback: Substring?
            if let sep = body.firstRange(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body[...]
            }
            // VS Code writes `${env:NAME}` for the same thing; its `${input:...}` asks a person, who is not here.
            if name.hasPrefix("env:") { name = name.dropFirst(4) }
            if name.hasPrefix("input:") {
                return .failure(
                    Failure(
                        message:
                            "'${\(body)}' is a VS Code input, which prompts a person; the gateway has nobody to ask",
                        hint: "put the value in an environment variable of the gateway and write ${NAME}"))
            }
            guard isValidName(name) else {
                return .failure(
                    Failure(
                        message: "'${\(body)}' is not a valid variable reference",
                        hint: "names are letters, digits and '_', not starting with a digit: ${API_KEY}"))
            }
            switch policy {
            case .syntaxOnly:
                out += bytes[i...end]
            case .expand(let environment):
                if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                    out += value.utf8
                } else if let fallback {
                    out += fallback.utf8
                } else {
                    return .failure(
                        Failure(
                            message: "environment variable \(name) is not set",
                            hint: "set \(name) in the gateway's environment, or write ${\(name):-default}"))
                }
            }
            i = end + 1
        }
        return .success(String(decoding: out, as: UTF8.self))
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}

extension EnvironmentPolicy {
    var isExpanding: Bool {
        if case .expand = self { return true }
        return false
    }
}
