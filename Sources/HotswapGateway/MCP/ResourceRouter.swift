import HotswapCore

/// Which server a resource URI belongs to, built from every live server's lists: exact URIs first (the first
/// server in catalog order that lists a URI owns it; a later one that lists it too is reported as a
/// conflict), then URI templates in the same order (RFC 6570 expressions matched as patterns).
struct ResourceRouter: Sendable {
    struct Conflict: Sendable, Equatable {
        var uri: String
        var owner: String
        var ignored: String
    }

    private var exact: [String: String] = [:]
    private var templates: [(server: String, template: URITemplate)] = []
    private(set) var conflicts: [Conflict] = []

    /// `servers` in catalog order, each with its `resources/list` and `resources/templates/list` items.
    init(_ servers: [(id: String, resources: [JSONValue], templates: [JSONValue])]) {
        for server in servers {
            for resource in server.resources {
                guard let uri = resource["uri"]?.stringValue else { continue }
                if let owner = exact[uri] {
                    if owner != server.id { conflicts.append(Conflict(uri: uri, owner: owner, ignored: server.id)) }
                } else {
                    exact[uri] = server.id
                }
            }
            for template in server.templates {
                guard let text = template["uriTemplate"]?.stringValue else { continue }
                templates.append((server.id, URITemplate(text)))
            }
        }
    }

    /// The server owning `uri`: by an exact listing, else by the first template that matches; nil when none.
    func owner(of uri: String) -> String? {
        if let owner = exact[uri] { return owner }
        return templates.first { $0.template.matches(uri) }?.server
    }

    /// Whether `uri` is listed by its owner (not only matched by a template).
    func isListed(_ uri: String) -> Bool { exact[uri] != nil }
}

/// An RFC 6570 URI template used as a pattern: literal text must match exactly; an expression matches what its
/// operator could expand to (`{var}` no `/`, `?` or `#`; `{+var}` and `{#var}` anything; `{?x,y}` and `{&x}`
/// the rest of a query).
struct URITemplate: Sendable {
    enum Part: Sendable, Equatable {
        case literal([UInt8])
        /// `stops`: bytes the expansion cannot contain.
        case expression(stops: Set<UInt8>)
    }

    let parts: [Part]

    init(_ text: String) {
        var parts: [Part] = []
        var literal: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first {
            if first == UInt8(ascii: "{"), let close = bytes.firstIndex(of: UInt8(ascii: "}")) {
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = []
                let op = bytes.dropFirst().first
                let stops: Set<UInt8>
                switch op {
                case UInt8(ascii: "+"), UInt8(ascii: "#"): stops = []
                case UInt8(ascii: "?"), UInt8(ascii: "&"): stops = [UInt8(ascii: "#")]
                case UInt8(ascii: "/"): stops = [UInt8(ascii: "?"), UInt8(ascii: "#")]
                default: stops = [UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#")]
                }
                parts.append(.expression(stops: stops))
                bytes = bytes[(close + 1)...]
            } else {
                literal.append(first)
                bytes = bytes.dropFirst()
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
    }

    /// Whether `uri` is one of the template's expansions: the template run as an automaton over the URI's
    /// bytes, every reachable state at once, so the time is linear in the URI times the template, whatever
    /// either holds.
    func matches(_ uri: String) -> Bool {
        struct Position: Hashable {
            var part: Int
            var offset: Int
        }
        func closure(_ positions: Set<Position>) -> Set<Position> {
            var result = positions
            var work = Array(positions)
            while let p = work.popLast() {
                guard p.part < parts.count else { continue }
                let next: Position?
                switch parts[p.part] {
                case .expression: next = Position(part: p.part + 1, offset: 0)
                case .literal(let text): next = p.offset == text.count ? Position(part: p.part + 1, offset: 0) : nil
                }
                if let next, result.insert(next).inserted { work.append(next) }
            }
            return result
        }
        var current = closure([Position(part: 0, offset: 0)])
        for byte in uri.utf8 {
            var next = Set<Position>()
            for p in current where p.part < parts.count {
                switch parts[p.part] {
                case .expression(let stops):
                    if !stops.contains(byte) { next.insert(p) }
                case .literal(let text):
                    if p.offset < text.count && text[p.offset] == byte {
                        next.insert(Position(part: p.part, offset: p.offset + 1))
                    }
                }
            }
            if next.isEmpty { return false }
            current = closure(next)
        }
        return current.contains(Position(part: parts.count, offset: 0))
    }
}
