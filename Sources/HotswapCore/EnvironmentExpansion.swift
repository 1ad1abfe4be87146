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
        guard text.contains("$") else { return .success(text) }
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            guard c == "$" else {
                out.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            if next < text.endIndex, text[next] == "$" {
                out += (policy.isExpanding ? "$" : "$$")
                i = text.index(after: next)
                continue
            }
            guard next < text.endIndex, text[next] == "{" else {
                out.append(c)
                i = next
                continue
            }
            guard let close = text[next...].firstIndex(of: "}") else {
                return .failure(
                    Failure(
                        message: "'${' is not closed by '}'",
                        hint: "write ${NAME}, or $${ for a literal '${'"))
            }
            let body = text[text.index(after: next)..<close]
            let name: Substring
            var fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body
            }
            guard isValidName(name) else {
                return .failure(
                    Failure(
                        message: "'${\(body)}' is not a valid variable reference",
                        hint: "names are letters, digits and '_', not starting with a digit: ${API_KEY}"))
            }
            switch policy {
            case .syntaxOnly:
                out += text[i...close]
            case .expand(let environment):
                if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                    out += value
                } else if let fallback {
                    out += fallback
                } else {
                    return .failure(
                        Failure(
                            message: "environment variable \(name) is not set",
                            hint: "set \(name) in the gateway's environment, or write ${\(name):-default}"))
                }
            }
            i = text.index(after: close)
        }
        return .success(out)
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

extension Substring {
    func range(of needle: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
