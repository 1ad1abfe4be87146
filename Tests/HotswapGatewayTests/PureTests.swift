import HotswapCore
import HotswapGateway
import Testing

@Suite("Restart backoff")
struct RestartBackoffTests {
    @Test("1 s doubling to 60 s, no jitter")
    func doubling() {
        var b = RestartBackoff()
        let delays = (0..<9).map { _ in b.crashed(afterUptime: .seconds(1), random: 0) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
    }

    @Test("jitter adds at most 20%")
    func jitter() {
        var b = RestartBackoff()
        #expect(b.crashed(afterUptime: .zero, random: 0.999) < .milliseconds(1200))
        var c = RestartBackoff()
        for _ in 0..<10 { _ = c.crashed(afterUptime: .zero, random: 0) }
        #expect(c.crashed(afterUptime: .zero, random: 1) == .seconds(72))
    }

    @Test("five minutes up resets the sequence")
    func reset() {
        var b = RestartBackoff()
        for _ in 0..<5 { _ = b.crashed(afterUptime: .seconds(10), random: 0) }
        #expect(b.crashed(afterUptime: .seconds(299), random: 0) == .seconds(32))
        #expect(b.crashed(afterUptime: .seconds(300), random: 0) == .seconds(1))
        #expect(b.crashed(afterUptime: .seconds(1), random: 0) == .seconds(2))
        b.reset()
        #expect(b.consecutiveCrashes == 0)
    }
}

/// A file system in memory: tests set the content and the stamp, and count reads.
final class MemoryFileSystem: WatchFileSystem, @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, between polls.
    var files: [String: (bytes: [UInt8], stamp: FileStamp)] = [:]
    var directories: Set<String> = []
    private var inode: UInt64 = 1

    func set(_ path: String, _ text: String, keepStamp: Bool = false) {
        inode += 1
        let stamp =
            keepStamp
            ? files[path]!.stamp
            : FileStamp(device: 1, inode: inode, size: Int64(text.utf8.count), mtime: Int64(inode), ctime: Int64(inode))
        files[path] = (Array(text.utf8), stamp)
    }

    func stamp(_ path: String) -> FileStamp? { files[path]?.stamp }
    func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8] {
        guard let f = files[path] else {
            throw FileIO.Failure(path: path, reason: "cannot open: No such file", errno: 2)
        }
        return f.bytes
    }
    func isDirectory(_ path: String) -> Bool { directories.contains(path) }
}

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
        fs.files["/c.yaml"] = nil
        guard case .unreadable = p.poll(now: t0 + .seconds(1)) else { Issue.record("missing not reported"); return }
        #expect(p.poll(now: t0 + .seconds(2)) == .unchanged, "reported once")
    }

    @Test("a ConfigMap directory is resolved through ..data on every poll")
    func configMap() {
        let fs = MemoryFileSystem()
        fs.directories = ["/cm", "/cm/..data"]
        fs.set("/cm/..data/catalog.yaml", "v1")
        let p = poller(fs, watch: "/cm")
        #expect(p.resolvedPath() == "/cm/..data/catalog.yaml")
        fs.directories = ["/cm"]
        #expect(p.resolvedPath() == "/cm/catalog.yaml")
    }
}

@Suite("Child environment")
struct ChildEnvironmentTests {
    @Test("a server gets the base variables, LC_*, and what --pass-env names; nothing else of the gateway's")
    func base() {
        let gateway = [
            "PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC", "AWS_SECRET": "x",
            "HOTSWAP_VERIFY_KEY": "/k", "HTTP_PROXY": "http://p",
        ]
        #expect(
            ChildEnvironment.base(from: gateway)
                == ["PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC"])
        #expect(ChildEnvironment.base(from: gateway, passing: ["HTTP_PROXY", "UNSET"])["HTTP_PROXY"] == "http://p")
        #expect(ChildEnvironment.base(from: gateway, passing: ["HTTP_PROXY"]).count == 6)
    }
}

@Suite("HTTP limits")
struct HTTPLimitsTests {
    @Test("client connections leave a reserve for servers and the control socket")
    func connectionsForDescriptors() {
        #expect(HTTPLimits.connections(forDescriptorLimit: 256) == 256 - 64 - 64)
        #expect(HTTPLimits.connections(forDescriptorLimit: 1024) == 1024 - 256 - 64)
        #expect(HTTPLimits.connections(forDescriptorLimit: 1 << 20) == 100_000)
        #expect(HTTPLimits.connections(forDescriptorLimit: 40) == 16)
    }

    @Test("loopback listeners answer only to loopback names and --allow-host")
    func hostPolicy() {
        let loopback = HostPolicy(listenHost: "127.0.0.1", allowed: ["gw.internal"])
        for host in ["127.0.0.1:4444", "localhost", "LOCALHOST:1", "[::1]:4444", "gw.internal", "gw.internal:8"] {
            #expect(loopback.permits(host), "\(host)")
        }
        for host in ["evil.example", "evil.example:4444", "127.0.0.1.evil.example", "", "localhost.:80"] {
            #expect(!loopback.permits(host), "\(host)")
        }
        #expect(!loopback.permits(nil))
        #expect(HostPolicy(listenHost: "0.0.0.0", allowed: []).permits("anything"))
        #expect(!HostPolicy(listenHost: "0.0.0.0", allowed: ["gateway"]).permits("other"))
    }
}
