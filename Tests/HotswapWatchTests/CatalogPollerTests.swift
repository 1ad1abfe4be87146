import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import HotswapWatch
import Testing

@Suite("Catalog poller (pure, driven tick by tick)")
struct CatalogPollerTests {
    let t0 = ContinuousClock.now

    func poller(_ fs: MemoryFileSystem, watch: String = "/c.yaml") -> CatalogPoller {
        var s = CatalogPoller.Settings(watch: watch)
        s.settle = .milliseconds(200)
        s.fullHashEvery = .seconds(30)
        return CatalogPoller(settings: s, fileSystem: fs)
    }

    @Test("new content settles only after it reads the same again, settle apart")
    func settles() {
        let fs = MemoryFileSystem()
        fs.set("/c.yaml", "a")
        var p = poller(fs)
        guard case .settling(_, let after) = p.poll(now: t0) else { Issue.record("expected settling"); return }
        #expect(after == .milliseconds(200))
        guard case .settling = p.poll(now: t0 + .milliseconds(100)) else { Issue.record("too early"); return }
        #expect(
            p.poll(now: t0 + .milliseconds(200))
                == .settled(bytes: Array("a".utf8), hash: ContentHash.sha256(Array("a".utf8))))
        #expect(p.poll(now: t0 + .milliseconds(700)) == .unchanged)
    }

    @Test("a half-written file that keeps changing never settles")
    func halfWritten() {
        let fs = MemoryFileSystem()
        var p = poller(fs)
        p.markSettled(hash: "x")
        var now = t0
        for chunk in 1...10 {
            fs.set("/c.yaml", String(repeating: "line\n", count: chunk))
            guard case .settling = p.poll(now: now) else { Issue.record("chunk \(chunk) settled"); return }
            now += .milliseconds(250)
        }
        guard case .settled(let bytes, _) = p.poll(now: now) else {
            Issue.record("final content did not settle"); return
        }
        #expect(bytes.count == 50)
    }

    @Test("the stat fast path skips reads; a full hash runs every fullHashEvery regardless")
    func fastPath() {
        let fs = MemoryFileSystem()
        fs.set("/c.yaml", "a")
        var p = poller(fs)
        _ = p.poll(now: t0)
        _ = p.poll(now: t0 + .milliseconds(200))
        let reads = p.reads
        for i in 1...20 { #expect(p.poll(now: t0 + .milliseconds(200 + 500 * i)) == .unchanged) }
        #expect(p.reads == reads, "no read while the stamp is the same")
        // Content changed behind an unchanged stamp: found by the periodic full hash.
        fs.set("/c.yaml", "b", keepStamp: true)
        #expect(p.poll(now: t0 + .seconds(15)) == .unchanged)
        guard case .settling = p.poll(now: t0 + .seconds(31)) else { Issue.record("full hash missed it"); return }
    }

    @Test("the same content back (a revert) is not acted on twice; a missing file is reported once")
    func revertsAndMissing() {
        let fs = MemoryFileSystem()
        fs.set("/c.yaml", "a")
        var p = poller(fs)
        p.markSettled(hash: ContentHash.sha256(Array("a".utf8)))
        fs.set("/c.yaml", "a")
        #expect(p.poll(now: t0) == .unchanged, "new inode, same content")
        fs.remove("/c.yaml")
        guard case .unreadable = p.poll(now: t0 + .seconds(1)) else { Issue.record("missing not reported"); return }
        #expect(p.poll(now: t0 + .seconds(2)) == .unchanged, "reported once")
    }

    @Test("a ConfigMap directory is resolved through ..data on every poll")
    func configMap() {
        let fs = MemoryFileSystem()
        fs.addDirectory("/cm")
        fs.addDirectory("/cm/..data")
        fs.set("/cm/..data/catalog.yaml", "v1")
        let p = poller(fs, watch: "/cm")
        #expect(p.resolvedPath() == "/cm/..data/catalog.yaml")
        fs.removeDirectory("/cm/..data")
        #expect(p.resolvedPath() == "/cm/catalog.yaml")
    }
}
