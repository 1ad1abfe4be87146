import CYAML

/// A 1-based line and column in a source file.
public struct YAMLNode: Sendable {
    /// One `key: value` entry of a mapping, in source order.
    public struct Pair: Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public enum Content: Sendable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    public var content: Content
    public var mark: SourceMark

    public init(_ content: Content, mark: SourceMark) {
        self.content = content
        self.mark = mark
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = content { return s }
        return nil
    }

    /// A short name of the node's kind for error messages ("a mapping", "a list", "the string \"x\"").
    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            switch s.resolved {
            case .null: return "null"
            case .bool(let b): return "the boolean \(b)"
            case .int(let i): return "the number \(i)"
            case .float(let f): return "the number \(f)"
            case .string(let t): return "the string \"\(t.count > 40 ? String(t.prefix(40)) + "…" : t)\""
            }
        }
    }
}

/// Bounds that keep a hostile or corrupt file from costing unbounded memory or time.
public enum YAMLDocument {
    /// Parses exactly one document. An empty stream returns `nil`.
    public static func parse(_ bytes: [UInt8], limits: YAMLLimits = .default) throws(YAMLError) -> YAMLNode? {
        guard bytes.count <= limits.maxBytes else {
            throw YAMLError(
                message: "file is \(bytes.count) bytes, over the limit of \(limits.maxBytes) bytes",
                mark: .start,
                hint: "a catalog is normally well under 1 MiB; check that the right file is mounted")
        }
        var builder = TreeBuilder(limits: limits)
        let result: Result<YAMLNode?, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return .failure(YAMLError(message: "libyaml could not allocate a parser", mark: .start))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            do throws(YAMLError) {
                while true {
                    var event = yaml_event_t()
                    guard yaml_parser_parse(&parser, &event) == 1 else {
                        return .failure(parserError(parser, source: buffer))
                    }
                    defer { yaml_event_delete(&event) }
                    if try builder.consume(&event) { break }
                }
                return .success(builder.root)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func parserError(_ parser: yaml_parser_t, source: UnsafeBufferPointer<UInt8>) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "malformed YAML"
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) \(context)"
        }
        let mark = parser.problem_mark
        var hint = "check indentation and quoting around this place"
        if parser.error == YAML_READER_ERROR {
            // Reader errors carry a byte offset rather than a mark.
            return YAMLError(
                message: "\(message) at byte \(parser.problem_offset)", mark: .start,
                hint: "the file is not UTF-8 text; is it the right file, fully written?")
        }
        if problem.contains("tab") || lineHasLeadingTab(source, line: Int(mark.line)) {
            hint = "this line is indented with a tab; YAML indentation uses spaces, not tabs"
        }
        return YAMLError(
            message: message,
            mark: SourceMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1),
            hint: hint)
    }
}

/// Whether the 0-based `line` of the source starts with whitespace that includes a tab.
private func lineHasLeadingTab(_ source: UnsafeBufferPointer<UInt8>, line: Int) -> Bool {
    var current = 0
    var i = 0
    while i < source.count && current < line {
        if source[i] == 0x0A { current += 1 }
        i += 1
    }
    while i < source.count && (source[i] == 0x20 || source[i] == 0x09) {
        if source[i] == 0x09 { return true }
        i += 1
    }
    return false
}

/// Turns the event stream into nodes, enforcing the limits as it goes.
private struct TreeBuilder {
    /// An open collection. Mutated in place through `stack[top]`, so appending never copies its arrays.
    private struct Frame {
        var isMapping: Bool
        var mark: SourceMark
        var anchor: String?
        var startCount: Int
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        var key: YAMLNode?
    }

    let limits: YAMLLimits
    private var stack: [Frame] = []
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    private var nodeCount = 0
    private var documents = 0
    private(set) var root: YAMLNode?

    init(limits: YAMLLimits) { self.limits = limits }

    /// Consumes one event; returns true at the end of the stream.
    mutating func consume(_ event: inout yaml_event_t) throws(YAMLError) -> Bool {
        let mark = SourceMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError(
                    message: "a second YAML document starts here; a catalog is a single document",
                    mark: mark, hint: "remove the `---` separator and everything after it, or merge the documents")
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            guard s.length <= limits.maxScalarBytes else {
                throw YAMLError(
                    message: "a string of \(s.length) bytes is over the limit of \(limits.maxScalarBytes) bytes",
                    mark: mark, hint: "move large data out of the catalog into a file the server reads")
            }
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            let style: YAMLScalar.Style
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let tag = s.tag.map { Self.expandTag(String(cString: $0)) }
            try count(1, at: mark)
            let node = YAMLNode(.scalar(YAMLScalar(text: text, style: style, tag: tag)), mark: mark)
            register(anchor: s.anchor, node: node, size: 1)
            add(node)
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard let target = anchors[name] else {
                throw YAMLError(
                    message: "alias *\(name) refers to no anchor defined before it",
                    mark: mark, hint: "define `&\(name)` earlier in the file; an alias cannot refer to its own parent")
            }
            try count(target.size, at: mark)
            add(target.node)
        case YAML_SEQUENCE_START_EVENT:
            try open(isMapping: false, anchor: event.data.sequence_start.anchor, at: mark)
        case YAML_MAPPING_START_EVENT:
            try open(isMapping: true, anchor: event.data.mapping_start.anchor, at: mark)
        case YAML_SEQUENCE_END_EVENT:
            guard let frame = stack.popLast(), !frame.isMapping else { break }
            try count(1, at: frame.mark)
            let node = YAMLNode(.sequence(frame.items), mark: frame.mark)
            register(anchor: frame.anchor, node: node, size: nodeCount - frame.startCount)
            add(node)
        case YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast(), frame.isMapping else { break }
            try count(1, at: frame.mark)
            let node = YAMLNode(.mapping(try Self.resolveMerges(frame.pairs)), mark: frame.mark)
            register(anchor: frame.anchor, node: node, size: nodeCount - frame.startCount)
            add(node)
        default:
            break
        }
        return false
    }

    /// Starts a sequence or mapping, refusing nesting deeper than the limit.
    private mutating func open(isMapping: Bool, anchor: UnsafeMutablePointer<yaml_char_t>?, at mark: SourceMark)
        throws(YAMLError)
    {
        guard stack.count < limits.maxDepth else {
            throw YAMLError(
                message: "nesting is deeper than the limit of \(limits.maxDepth) levels",
                mark: mark, hint: "a catalog nests about 5 levels; this input is not a catalog")
        }
        stack.append(
            Frame(isMapping: isMapping, mark: mark, anchor: anchor.map { String(cString: $0) }, startCount: nodeCount))
    }

    private mutating func count(_ n: Int, at mark: SourceMark) throws(YAMLError) {
        nodeCount += n
        guard nodeCount <= limits.maxNodes else {
            throw YAMLError(
                message: "the document expands to more than \(limits.maxNodes) nodes (aliases counted at full size)",
                mark: mark, hint: "this looks like an alias expansion bomb or a file that is not a catalog")
        }
    }

    private mutating func register(anchor: UnsafeMutablePointer<yaml_char_t>?, node: YAMLNode, size: Int) {
        register(anchor: anchor.map { String(cString: $0) }, node: node, size: size)
    }

    private mutating func register(anchor: String?, node: YAMLNode, size: Int) {
        if let anchor { anchors[anchor] = (node, size) }
    }

    private mutating func add(_ node: YAMLNode) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        if !stack[top].isMapping {
            stack[top].items.append(node)
        } else if let key = stack[top].key {
            stack[top].pairs.append(YAMLNode.Pair(key: key, value: node))
            stack[top].key = nil
        } else {
            stack[top].key = node
        }
    }

    /// Rejects duplicate keys and applies `<<` merge keys (explicit keys win, earlier merge sources win).
    private static func resolveMerges(_ pairs: [YAMLNode.Pair]) throws(YAMLError) -> [YAMLNode.Pair] {
        // One set of seen keys per mapping: linear, whatever the mapping's size (a large env block within the
        // documented limits must not take seconds; a scan per key did).
        var explicit: [YAMLNode.Pair] = []
        var merged: [YAMLNode.Pair] = []
        var seen: [String: SourceMark] = [:]
        explicit.reserveCapacity(pairs.count)
        for pair in pairs {
            guard let key = pair.key.scalar else {
                explicit.append(pair)
                continue
            }
            if key.text == "<<" && key.style == .plain {
                let sources: [YAMLNode]
                switch pair.value.content {
                case .mapping: sources = [pair.value]
                case .sequence(let items): sources = items
                case .scalar:
                    throw YAMLError(
                        message: "a `<<` merge key needs a mapping or a list of mappings",
                        mark: pair.value.mark, hint: "write `<<: *anchor` where `&anchor` names a mapping")
                }
                for source in sources {
                    guard case .mapping(let sourcePairs) = source.content else {
                        throw YAMLError(
                            message: "a `<<` merge source must be a mapping, not \(source.kindDescription)",
                            mark: source.mark, hint: nil)
                    }
                    merged.append(contentsOf: sourcePairs)
                }
                continue
            }
            if let first = seen[key.text] {
                throw YAMLError(
                    message:
                        "duplicate key '\(key.text)' (first defined at line \(first.line), column \(first.column))",
                    mark: pair.key.mark, hint: "remove one of the two; YAML does not say which would win")
            }
            seen[key.text] = pair.key.mark
            explicit.append(pair)
        }
        for pair in merged {
            guard let key = pair.key.scalar?.text, seen[key] == nil else { continue }
            seen[key] = pair.key.mark
            explicit.append(pair)
        }
        return explicit
    }

    private static func expandTag(_ tag: String) -> String {
        tag.hasPrefix("!!") ? "tag:yaml.org,2002:" + tag.dropFirst(2) : tag
    }
}
