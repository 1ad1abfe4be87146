import ArgumentParser
import HotswapCore

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what a reload from OLD to NEW would change.",
        discussion: """
            Lists servers added, removed, modified (with the fields that changed) and \
            unchanged, comparing whole normalized definitions: defaults applied, {} and \
            absent alike, ${VAR} expanded.

            Exit status: 0 compared, 1 a catalog is invalid, 2 a file could not be read.
            """)

    @OptionGroup var catalog: CatalogOptions

    @Option(help: "Output: text, or json with keys added, removed, modified [{id, changed}], unchanged.")
    var format: OutputFormat = .text

    @Argument(help: "The catalog live now.")
    var old: String

    @Argument(help: "The catalog to compare it with.")
    var new: String

    func run() throws {
        let before = try load(old)
        let after = try load(new)
        let diff = CatalogDiff(from: before, to: after)
        switch format {
        case .json:
            Terminal.printJSON(diff)
        case .text:
            func line(_ label: String, _ items: [String]) {
                print("\(label.padding(11))\(items.isEmpty ? "-" : items.joined(separator: ", "))")
            }
            line("added:", diff.added)
            line("removed:", diff.removed)
            line("modified:", diff.modified.map { "\($0.id) (\($0.changed.joined(separator: ", ")))" })
            line("unchanged:", diff.unchanged)
        }
    }

    private func load(_ path: String) throws -> Catalog {
        let result: CatalogLoadResult
        do {
            result = try CatalogLoader.load(path: path, options: catalog.loadOptions)
        } catch {
            Terminal.error("\(error.description)\n  hint: check the path and the file's permissions")
            throw ExitCode(2)
        }
        guard let c = result.catalog else {
            for d in result.diagnostics { Terminal.error(d.formatted(file: path)) }
            Terminal.error("\(path): invalid; fix it before diffing")
            throw ExitCode(1)
        }
        return c
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
