import ArgumentParser
import HotswapCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check catalogs and print every error with its line and column.",
        discussion: """
            Prints FILE:LINE:COL: error: PATH: message for every problem, then a hint \
            where one helps. On success prints the number of servers and the sha256 a \
            reload token must carry.

            Exit status: 0 all valid, 1 some invalid, 2 some could not be read.
            """)

    @OptionGroup var catalog: CatalogOptions

    @Option(
        help: "Output: text, or json ({valid, files: [{file, valid, servers, sha256, dialect, errors, warnings}]}).")
    var format: OutputFormat = .text

    @Argument(help: "Catalog files (YAML or JSON).")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one catalog file") }
    }

    struct FileReport: Encodable {
        var file: String
        var valid: Bool
        var readable: Bool
        var servers: Int?
        var sha256: String?
        var dialect: String?
        var errors: [CatalogDiagnostic]
        var warnings: [CatalogDiagnostic]
    }

    struct Report: Encodable {
        var valid: Bool
        var files: [FileReport]
    }

    func run() throws {
        var reports: [FileReport] = []
        var unreadable = false
        for file in files {
            do {
                let result = try CatalogLoader.load(path: file, options: catalog.loadOptions)
                reports.append(
                    FileReport(
                        file: file, valid: result.isValid, readable: true, servers: result.catalog?.servers.count,
                        sha256: result.sha256.isEmpty ? nil : result.sha256, dialect: result.dialect.rawValue,
                        errors: result.errors, warnings: result.diagnostics.filter { $0.severity == .warning }))
            } catch {
                unreadable = true
                let d = CatalogDiagnostic(
                    path: "", mark: .start, message: error.reason, hint: "check the path and the file's permissions")
                reports.append(
                    FileReport(
                        file: file, valid: false, readable: false, servers: nil, sha256: nil, dialect: nil,
                        errors: [d], warnings: []))
            }
        }
        let allValid = reports.allSatisfy(\.valid)
        switch format {
        case .json:
            Terminal.printJSON(Report(valid: allValid, files: reports))
        case .text:
            for r in reports {
                for d in (r.errors + r.warnings).sorted(by: { $0.mark < $1.mark }) {
                    Terminal.error(d.formatted(file: r.file))
                }
                if r.valid, let n = r.servers, let sha = r.sha256 {
                    print("\(r.file): valid \(r.dialect ?? "") catalog, \(n) server\(n == 1 ? "" : "s"), sha256 \(sha)")
                } else if r.readable {
                    let n = r.errors.count
                    Terminal.error("\(r.file): invalid, \(n) error\(n == 1 ? "" : "s")")
                }
            }
        }
        if unreadable { throw ExitCode(2) }
        if !allValid { throw ExitCode(1) }
    }
}
