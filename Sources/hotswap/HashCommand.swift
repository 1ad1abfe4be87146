import ArgumentParser
import HotswapCore

struct HashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the sha256 the sidecar would act on.",
        discussion: """
            For a file: the SHA-256 of its bytes, which a reload token's sha256 claim \
            must equal. For a directory (a ConfigMap mount): the catalog file in it, \
            found through ..data when the kubelet's layout is there.

            With --tree: one hash over every visible file of the directory, stable when \
            the kubelet re-publishes the same content.

            Output: HEX  PATH, like sha256sum.
            """)

    @Option(help: "The catalog's file name inside a directory (env HOTSWAP_FILE).")
    var file: String?

    @Flag(help: "For a directory: hash every visible file together instead of the catalog file alone.")
    var tree = false

    @Argument(help: "A catalog file, or a directory such as a ConfigMap mount.")
    var path: String

    func run() throws {
        do {
            if FileIO.isDirectory(path) {
                if tree {
                    print("\(try ContentHash.directory(path))  \(path)")
                    return
                }
                let resolved = ContentHash.catalogPath(
                    watching: path, file: file ?? Terminal.env("HOTSWAP_FILE") ?? "catalog.yaml")
                print("\(try ContentHash.file(resolved))  \(resolved)")
            } else {
                print("\(try ContentHash.file(path))  \(path)")
            }
        } catch {
            Terminal.error("\(error.description)\n  hint: for a directory, name the catalog with --file")
            throw ExitCode(2)
        }
    }
}
