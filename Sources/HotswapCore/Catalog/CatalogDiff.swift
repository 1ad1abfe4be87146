#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a reload would change: servers added, removed, modified (with the fields that differ) and unchanged.
///
/// Servers are compared on their whole normalized definition (`ServerDefinition`'s synthesized equality),
/// never on a hand-picked list of fields.
public struct CatalogDiff: Sendable, Hashable, Codable {
    /// A server whose definition changed, and the paths of the fields that did (`runtime.env.API_KEY`).
    public struct Modification: Sendable, Hashable, Codable {
        public var id: String
        public var changed: [String]

        public init(id: String, changed: [String]) {
            self.id = id
            self.changed = changed
        }
    }

    public var added: [String]
    public var removed: [String]
    public var modified: [Modification]
    public var unchanged: [String]

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && modified.isEmpty }

    public init(added: [String] = [], removed: [String] = [], modified: [Modification] = [], unchanged: [String] = []) {
        self.added = added
        self.removed = removed
        self.modified = modified
        self.unchanged = unchanged
    }

    /// Compares two catalogs. Lists follow the new catalog's order (removed ones the old catalog's).
    public init(from old: Catalog, to new: Catalog) {
        var oldByID: [String: ServerDefinition] = [:]
        oldByID.reserveCapacity(old.servers.count)
        for server in old.servers { oldByID[server.id] = server }
        var added: [String] = []
        var modified: [Modification] = []
        var unchanged: [String] = []
        var present = Set<String>()
        present.reserveCapacity(new.servers.count)
        for server in new.servers {
            present.insert(server.id)
            guard let before = oldByID[server.id] else {
                added.append(server.id)
                continue
            }
            if before == server {
                unchanged.append(server.id)
            } else {
                modified.append(Modification(id: server.id, changed: Self.changedPaths(before, server)))
            }
        }
        let removed = old.servers.map(\.id).filter { !present.contains($0) }
        self.init(added: added, removed: removed, modified: modified, unchanged: unchanged)
    }

    /// The leaf paths where two definitions differ, from their encoded form (so every field takes part).
    static func changedPaths(_ a: ServerDefinition, _ b: ServerDefinition) -> [String] {
        guard let x = try? JSONValue(encoding: a), let y = try? JSONValue(encoding: b) else { return ["(definition)"] }
        var out: [String] = []
        leafDifferences(x, y, path: "", into: &out)
        return out.isEmpty ? ["(definition)"] : out
    }

    private static func leafDifferences(_ a: JSONValue?, _ b: JSONValue?, path: String, into out: inout [String]) {
        if a == b { return }
        if case .object(let x)? = a, case .object(let y)? = b {
            for key in Set(x.keys).union(y.keys).sorted() {
                leafDifferences(x[key], y[key], path: path.isEmpty ? key : "\(path).\(key)", into: &out)
            }
            return
        }
        // Lists (args) change as a whole: "args" says more than "args[3]" when an item was inserted.
        out.append(path)
    }
}
