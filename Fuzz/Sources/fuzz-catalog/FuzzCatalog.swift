// libFuzzer target: the catalog loader (libyaml, both dialects by `auto`, `${VAR}` expansion, validation,
// normalization).
//
// Properties, each a crash when broken:
// - loading never traps, whatever the bytes (YAML, JSON, alias bombs, deep nesting, odd scalars);
// - a result has a catalog exactly when it has no error, and its sha256 is that of the bytes;
// - a catalog comes with the dialect it was read as (`auto` decided);
// - a valid catalog has unique server ids, and its diff against itself is empty with every server unchanged.

import HotswapCore

/// A few variables, so that `${HOME}`, `${TOKEN:-x}` and `$${` take both the set and the unset paths.
let options = CatalogLoadOptions(
    dialect: .auto,
    environment: .expand([
        "HOME": "/home/fuzz", "TOKEN": "s3cr3t", "EMPTY": "", "PORT": "8080", "URL": "https://mcp.example/mcp",
    ]))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCatalog(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let result = CatalogLoader.load(bytes, options: options)
    guard result.sha256 == hexString(Crypto.sha256(bytes)) else { fatalError("sha256 is not that of the bytes") }
    let hasErrors = result.diagnostics.contains { $0.severity == .error }
    guard let catalog = result.catalog else {
        guard hasErrors else { fatalError("no catalog, but no error says why") }
        return 0
    }
    guard !hasErrors else { fatalError("a catalog was returned along with errors") }
    guard result.dialect != .auto else { fatalError("a catalog was read without deciding its dialect") }
    let ids = catalog.servers.map(\.id)
    guard Set(ids).count == ids.count else { fatalError("duplicate server ids in a valid catalog: \(ids)") }
    let diff = CatalogDiff(from: catalog, to: catalog)
    guard diff.isEmpty, diff.unchanged == ids else { fatalError("a catalog differs from itself: \(diff)") }
    return 0
}
