/// Which catalog format to read.
public enum CatalogDialect: String, Sendable, Hashable, CaseIterable, Codable {
    /// Decided by the top-level key: `mcpServers` means the `.mcp.json` map, anything else the native format.
    case auto
    /// The native `version: 1` format.
    case hotswap
    /// The `mcpServers` map of `.mcp.json` and desktop clients, in JSON or YAML.
    case mcpJSON = "mcp-json"
}

/// How to load a catalog.
public struct CatalogLoadOptions: Sendable {
    public var dialect: CatalogDialect
    public var environment: EnvironmentPolicy
    public var limits: YAMLLimits

    public init(dialect: CatalogDialect = .auto, environment: EnvironmentPolicy, limits: YAMLLimits = .default) {
        self.dialect = dialect
        self.environment = environment
        self.limits = limits
    }
}

/// The outcome of loading a catalog: the catalog when it is valid, and every diagnostic either way.
public struct CatalogLoadResult: Sendable {
    /// Present only when there are no errors (warnings allowed).
    public var catalog: Catalog?
    public var diagnostics: [CatalogDiagnostic]
    /// Hex SHA-256 of the exact bytes: what a reload token signs and what the gateway reports as live.
    public var sha256: String
    /// The format the bytes were read as.
    public var dialect: CatalogDialect

    public var errors: [CatalogDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var isValid: Bool { catalog != nil }
}

/// Parses, validates and normalizes catalog bytes.
public enum CatalogLoader {
    public static func load(_ bytes: [UInt8], options: CatalogLoadOptions) -> CatalogLoadResult {
        let sha256 = hexString(Crypto.sha256(bytes))
        func failed(_ d: CatalogDiagnostic, dialect: CatalogDialect = options.dialect) -> CatalogLoadResult {
            CatalogLoadResult(catalog: nil, diagnostics: [d], sha256: sha256, dialect: dialect)
        }
        let root: YAMLNode?
        do {
            root = try YAMLDocument.parse(bytes, limits: options.limits)
        } catch {
            return failed(CatalogDiagnostic(path: "", mark: error.mark, message: error.message, hint: error.hint))
        }
        let isBlank: Bool
        if let root, case .scalar(let s) = root.content {
            isBlank = s.resolved == .null && s.style == .plain
        } else {
            isBlank = root == nil
        }
        if isBlank {
            return failed(
                CatalogDiagnostic(
                    path: "", mark: root?.mark ?? .start,
                    message: "the catalog is empty",
                    hint: "an empty file is refused so that a truncated write never removes every server; "
                        + "write `version: 1` and `servers: []` to run with none"))
        }
        guard let root else {
            return failed(CatalogDiagnostic(path: "", mark: .start, message: "the catalog is empty"))
        }
        var dialect = options.dialect
        if dialect == .auto {
            dialect = .hotswap
            if case .mapping(let pairs) = root.content, CatalogDecoder.mcpServersKey(pairs) != nil {
                dialect = .mcpJSON
            }
        }
        var decoder = CatalogDecoder(environment: options.environment)
        let catalog = dialect == .mcpJSON ? decoder.decodeMCPServers(root) : decoder.decodeNative(root)
        let diagnostics = decoder.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
        let hasErrors = diagnostics.contains { $0.severity == .error }
        return CatalogLoadResult(
            catalog: hasErrors ? nil : catalog, diagnostics: diagnostics, sha256: sha256, dialect: dialect)
    }

    /// Reads and loads a file. Throws only when the file cannot be read; a bad catalog is a result with errors.
    public static func load(path: String, options: CatalogLoadOptions) throws(FileIO.Failure) -> CatalogLoadResult {
        do {
            return load(try FileIO.read(path, limit: options.limits.maxBytes), options: options)
        } catch  where error.tooLarge {
            return CatalogLoadResult(
                catalog: nil,
                diagnostics: [
                    CatalogDiagnostic(
                        path: "", mark: .start, message: "the file \(error.reason)",
                        hint: "a catalog is normally well under 1 MiB; check that the right file is mounted")
                ], sha256: "", dialect: options.dialect)
        }
    }
}
