import HotswapCore
import HotswapGateway
import Testing

/// The README's reload table, one test per row, as the pure swap plan decides it.
@Suite("Swap plan (pure): one row per row of the README's reload table")
struct SwapPlanTests {
    static func catalog(_ servers: [(id: String, command: String, prestart: Bool)]) -> Catalog {
        var yaml = "version: 1\nservers:\n"
        for s in servers {
            yaml +=
                "  - id: \(s.id)\n    prestart: \(s.prestart)\n    runtime: { type: local-process, command: \(s.command) }\n"
        }
        let loaded = CatalogLoader.load(Array(yaml.utf8), options: CatalogLoadOptions(environment: .expand([:])))
        return loaded.catalog!
    }

    func plan(_ old: Catalog?, _ new: Catalog, running: Set<String> = []) -> SwapPlan {
        SwapPlan(
            live: old, next: new, diff: CatalogDiff(from: old ?? Catalog(servers: []), to: new),
            running: { running.contains($0) })
    }

    let base = catalog([("a", "x", false), ("b", "y", false)])

    @Test("added: registered cold, started on its first call")
    func added() {
        let p = plan(base, Self.catalog([("a", "x", false), ("b", "y", false), ("c", "z", false)]))
        #expect(p.step("c") == .startCold)
        #expect(p.retire.isEmpty)
    }

    @Test("added with prestart: started during the reload, before the swap")
    func addedPrestart() {
        let p = plan(base, Self.catalog([("a", "x", false), ("b", "y", false), ("c", "z", true)]))
        #expect(p.step("c") == .warm)
        #expect(p.warmed == ["c"])
    }

    @Test("removed: leaves at the swap and drains")
    func removed() {
        let p = plan(base, Self.catalog([("a", "x", false)]))
        #expect(p.retire == ["b"])
        #expect(p.step("b") == nil)
        #expect(p.step("a") == .carry)
    }

    @Test("modified while running: the new one is warmed before the swap, then the old one drains")
    func modifiedRunning() {
        let p = plan(base, Self.catalog([("a", "x2", false), ("b", "y", false)]), running: ["a"])
        #expect(p.step("a") == .warm)
        #expect(p.retire == ["a"])
        #expect(p.step("b") == .carry)
    }

    @Test("modified while cold: the new one is cold too; the old one still retires")
    func modifiedCold() {
        let p = plan(base, Self.catalog([("a", "x2", false), ("b", "y", false)]), running: ["b"])
        #expect(p.step("a") == .startCold)
        #expect(p.retire == ["a"])
    }

    @Test("unchanged: the same instance carries over, running or not")
    func unchanged() {
        let p = plan(base, base, running: ["a"])
        #expect(p.steps.map(\.step) == [.carry, .carry])
        #expect(p.retire.isEmpty && p.warmed.isEmpty)
    }

    @Test("the first catalog: every server is new; prestart ones warm, none retire")
    func first() {
        let p = plan(nil, Self.catalog([("a", "x", true), ("b", "y", false)]))
        #expect(p.steps.map(\.step) == [.warm, .startCold])
        #expect(p.retire.isEmpty)
    }

    @Test("a reorder alone changes nothing")
    func reorder() {
        let p = plan(base, Self.catalog([("b", "y", false), ("a", "x", false)]), running: ["a", "b"])
        #expect(p.steps.map(\.id) == ["b", "a"])
        #expect(p.steps.map(\.step) == [.carry, .carry])
    }

    @Test("everything at once: carry, cold, warm and retire in one plan")
    func mixed() {
        let old = Self.catalog([("keep", "k", false), ("hot", "h", false), ("cold", "c", false), ("gone", "g", false)])
        let new = Self.catalog([
            ("keep", "k", false), ("hot", "h2", false), ("cold", "c2", false), ("new", "n", false), ("pre", "p", true),
        ])
        let p = plan(old, new, running: ["hot", "keep", "gone"])
        #expect(p.steps.map(\.step) == [.carry, .warm, .startCold, .startCold, .warm])
        #expect(p.retire == ["hot", "cold", "gone"])
    }
}

@Suite("Reload queue (pure): one at a time, the rest coalesce into one follow-up")
struct ReloadQueueTests {
    typealias Queue = ReloadQueue<String, Int>

    @Test("idle: a request runs at once")
    func runsAtOnce() {
        var q = Queue()
        guard case .run("v1", let w) = q.submit("v1", waiter: 1) else { Issue.record("expected run"); return }
        #expect(w == [1] && q.isRunning)
        guard case .idle = q.finished() else { Issue.record("expected idle"); return }
        #expect(!q.isRunning)
    }

    @Test("while one runs, later requests fold into one follow-up of the newest, answering every caller")
    func coalesces() {
        var q = Queue()
        _ = q.submit("v1", waiter: 1)
        for (i, v) in ["v2", "v3", "v4"].enumerated() {
            guard case .coalesced = q.submit(v, waiter: i + 2) else { Issue.record("expected coalesced"); return }
        }
        #expect(q.waiting == 3)
        guard case .run("v4", let w) = q.finished() else { Issue.record("expected the newest"); return }
        #expect(w == [2, 3, 4])
        #expect(q.isRunning, "the follow-up is running")
        guard case .coalesced = q.submit("v5", waiter: 5) else { Issue.record("expected coalesced"); return }
        guard case .run("v5", [5]) = q.finished() else { Issue.record("expected v5"); return }
        guard case .idle = q.finished() else { Issue.record("expected idle"); return }
        guard case .run("v6", [6]) = q.submit("v6", waiter: 6) else { Issue.record("runs again"); return }
    }
}
