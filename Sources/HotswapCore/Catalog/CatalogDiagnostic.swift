/// One problem found in a catalog, with its place and, where one helps, what to do about it.
public struct CatalogDiagnostic: Sendable, Hashable, Codable, Error {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error, warning
    }

    public var severity: Severity
    /// Where in the catalog: `servers[2].runtime.command`; empty for the document as a whole.
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    public init(
        _ severity: Severity = .error, path: String, mark: SourceMark, message: String, hint: String? = nil
    ) {
        self.severity = severity
        self.path = path
        self.line = mark.line
        self.column = mark.column
        self.message = message
        self.hint = hint
    }

    public var mark: SourceMark { SourceMark(line: line, column: column) }

    /// `FILE:LINE:COL: error: PATH: message`, then `  hint: ...` on its own line when there is one.
    public func formatted(file: String) -> String {
        var text = "\(file):\(line):\(column): \(severity.rawValue): "
        if !path.isEmpty { text += "\(path): " }
        text += message
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

/// A path into the catalog document, printed as `servers[2].runtime.env.API_KEY`.
struct CatalogPath: CustomStringConvertible {
    enum Component {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = CatalogPath()

    func key(_ k: String) -> CatalogPath {
        var p = self
        p.components.append(.key(k))
        return p
    }

    func index(_ i: Int) -> CatalogPath {
        var p = self
        p.components.append(.index(i))
        return p
    }

    var description: String {
        var out = ""
        for c in components {
            switch c {
            case .index(let i): out += "[\(i)]"
            case .key(let k):
                let plain =
                    !k.isEmpty && k.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) }
                if plain {
                    out += out.isEmpty ? k : ".\(k)"
                } else {
                    out += "[\"\(k.replacingAll("\"", with: "\\\""))\"]"
                }
            }
        }
        return out
    }
}

/// Suggests the closest known word for a misspelt one ("comand" → "command", "workingDir" → "working_dir").
enum Suggestion {
    static func closest(to word: String, in candidates: [String]) -> String? {
        let squashed = squash(word)
        if let same = candidates.first(where: { squash($0) == squashed }) { return same }
        let lowered = Array(word.lowercased())
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(lowered, Array(candidate.lowercased()))
            if d <= max(1, min(3, candidate.count / 3)), d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    /// Case, `-` and `_` do not matter: `requestTimeout`, `request-timeout` and `request_timeout` are one word.
    private static func squash(_ s: String) -> String {
        String(s.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
