import HotswapCore

/// What a reload does with each server: the README's reload table as a pure function of the live generation,
/// the new catalog and which live servers are running. No process is touched here; the registry carries it out.
public struct SwapPlan: Sendable, Equatable {
    /// What happens to one server of the new catalog.
    public enum Step: Sendable, Equatable {
        /// Unchanged: the same instance (process, pid, calls in flight) carries into the new generation.
        case carry
        /// New, or modified while not running: a fresh instance that starts on its first call.
        case startCold
        /// Modified while running, or new with `prestart`: a fresh instance started (and answering
        /// `initialize` and `tools/list`) before the swap; if it fails, the reload rolls back.
        case warm
    }

    /// One step per server of the new catalog, in catalog order.
    public var steps: [(id: String, step: Step)]
    /// Live servers that leave the routing table at the swap and drain: removed ones, and the old instances of
    /// modified ones.
    public var retire: [String]

    public static func == (a: SwapPlan, b: SwapPlan) -> Bool {
        a.retire == b.retire && a.steps.map(\.id) == b.steps.map(\.id) && a.steps.map(\.step) == b.steps.map(\.step)
    }

    /// - Parameters:
    ///   - live: the catalog being served (nil before the first reload).
    ///   - next: the catalog to apply.
    ///   - diff: `CatalogDiff(from: live, to: next)`.
    ///   - running: whether a live server's process is running now (starting or ready).
    public init(live: Catalog?, next: Catalog, diff: CatalogDiff, running: (String) -> Bool) {
        let modified = Set(diff.modified.map(\.id))
        let liveIDs = Set(live?.servers.map(\.id) ?? [])
        steps = next.servers.map { server in
            if liveIDs.contains(server.id), !modified.contains(server.id) { return (server.id, .carry) }
            let warm = server.prestart || (modified.contains(server.id) && running(server.id))
            return (server.id, warm ? .warm : .startCold)
        }
        let nextIDs = Set(next.servers.map(\.id))
        retire = (live?.servers.map(\.id) ?? []).filter { modified.contains($0) || !nextIDs.contains($0) }
    }

    public func step(_ id: String) -> Step? { steps.first { $0.id == id }?.step }
    public var warmed: [String] { steps.filter { $0.step == .warm }.map(\.id) }
}
