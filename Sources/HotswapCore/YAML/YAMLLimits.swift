public struct YAMLLimits: Sendable, Hashable {
    /// Default 4 MiB: a 1,000-server catalog is about 150 KiB.
    public var maxBytes: Int = 4 << 20
    /// Default 64: a catalog nests 5 levels deep; JSON and YAML parsers are recursive elsewhere.
    public var maxDepth: Int = 64
    /// Default 250,000 nodes, counting every alias at its expanded size (this is what stops alias bombs).
    public var maxNodes: Int = 250_000
    /// Default 1 MiB: room for an inline certificate bundle in an env value.
    public var maxScalarBytes: Int = 1 << 20

    public init() {}

    public static let `default` = YAMLLimits()
}

/// A YAML syntax error or a limit exceeded, with its place in the source.
public struct YAMLError: Error, Sendable, Hashable {
    public var message: String
    public var mark: SourceMark
    public var hint: String?
}

/// Parses YAML (a superset of JSON) with libyaml's event API into a tree that keeps every node's position.
///
/// Duplicate mapping keys are errors, `<<` merge keys are honoured, aliases are expanded (sharing storage)
/// and counted at their expanded size against `YAMLLimits.maxNodes`.
