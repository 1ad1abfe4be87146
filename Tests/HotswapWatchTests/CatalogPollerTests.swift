import Glibc
import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import Testing

@testable import HotswapWatch

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

    @Test("once a hint says the writer is done, one confirming read settles it; without one the whole settle")
    func writerDone() {
        let fs = MemoryFileSystem()
        fs.set("/c.yaml", "a")
        var p = poller(fs)
        p.writerFinished()
        guard case .settling(_, let after) = p.poll(now: t0) else { Issue.record("expected settling"); return }
        #expect(after == .milliseconds(50))
        #expect(
            p.poll(now: t0 + .milliseconds(50))
                == .settled(bytes: Array("a".utf8), hash: ContentHash.sha256(Array("a".utf8))))
        // The hint that comes after the content was first seen shortens that candidate's settle too.
        fs.set("/c.yaml", "b")
        guard case .settling(_, let full) = p.poll(now: t0 + .seconds(1)) else {
            Issue.record("expected settling"); return
        }
        #expect(full == .milliseconds(200), "no hint: the whole settle")
        p.writerFinished()
        guard case .settled = p.poll(now: t0 + .seconds(1) + .milliseconds(50)) else {
            Issue.record("the hint did not shorten the settle"); return
        }
        // Content still changing after the hint does not settle early: the new content starts over.
        fs.set("/c.yaml", "c")
        p.writerFinished()
        _ = p.poll(now: t0 + .seconds(2))
        fs.set("/c.yaml", "cc")
        guard case .settling(_, let again) = p.poll(now: t0 + .seconds(2) + .milliseconds(50)) else {
            Issue.record("changing content settled"); return
        }
        #expect(again == .milliseconds(200))
        // A hint spent on a read that found the settled content does not shorten a later write's settle.
        guard case .settled = p.poll(now: t0 + .seconds(3)) else { Issue.record("cc did not settle"); return }
        p.writerFinished()
        #expect(p.poll(now: t0 + .seconds(4)) == .unchanged)
        fs.set("/c.yaml", "d")
        guard case .settling(_, let later) = p.poll(now: t0 + .seconds(5)) else {
            Issue.record("expected settling"); return
        }
        #expect(later == .milliseconds(200), "the earlier hint was spent")
    }

    @Test("inotify events: a close after writing or a move into place of the catalog says its writer is done")
    func inotifyEvents() {
        func event(_ mask: Int32, _ name: String) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: UInt32(mask).littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
            let padded = Array(name.utf8) + [UInt8](repeating: 0, count: 16 - name.utf8.count % 16)
            withUnsafeBytes(of: UInt32(padded.count).littleEndian) { bytes.replaceSubrange(12..<16, with: $0) }
            return bytes + padded
        }
        let names: Set<String> = ["catalog.yaml", "..data"]
        #expect(ChangeHint.writerDone(in: ArraySlice(event(IN_CLOSE_WRITE, "catalog.yaml")), names))
        #expect(ChangeHint.writerDone(in: ArraySlice(event(IN_MODIFY, "x") + event(IN_MOVED_TO, "..data")), names))
        #expect(!ChangeHint.writerDone(in: ArraySlice(event(IN_MODIFY, "catalog.yaml")), names), "still writing")
        #expect(!ChangeHint.writerDone(in: ArraySlice(event(IN_CLOSE_WRITE, ".catalog.yaml.swp")), names))
        #expect(
            !ChangeHint.writerDone(in: ArraySlice(event(IN_CLOSE_WRITE, "catalog.yaml").prefix(20)), names), "cut short"
        )
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
