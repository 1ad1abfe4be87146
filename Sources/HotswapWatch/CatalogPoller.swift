import HotswapCore
import HotswapRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// What `stat` says of a file: when any of these change, the content may have.
public struct FileStamp: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var mtime: Int64
    public var ctime: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, mtime: Int64, ctime: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mtime = mtime
        self.ctime = ctime
    }
}

/// The file system as the poller sees it; tests substitute one that blocks or lies.
public protocol WatchFileSystem: Sendable {
    func stamp(_ path: String) -> FileStamp?
    func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8]
    func isDirectory(_ path: String) -> Bool
}

/// The real file system. Paths are followed through symlinks, as a ConfigMap's `..data` needs.
public struct LocalFileSystem: WatchFileSystem {
    public init() {}

    public func stamp(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStamp(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    public func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8] {
        try FileIO.read(path, limit: limit, regularOnly: true)
    }

    public func isDirectory(_ path: String) -> Bool { FileIO.isDirectory(path) }
}

/// Watches a catalog by polling: a `stat` fast path every tick, a full read and SHA-256 when the stamp changes
/// (or every `fullHashEvery` regardless), and a new hash counts only once it reads the same again after
/// `settle` (shorter once an inotify hint says the writer is done; polling stays the truth, since inotify does not
/// cross Docker Desktop shares, NFS or every ConfigMap setup).
///
/// The poller holds no timer: the caller passes the time and sleeps as `poll` says, so tests drive it tick by tick.
public struct CatalogPoller: Sendable {
    /// The outcome of one poll.
    public enum Outcome: Sendable, Equatable {
        /// Nothing new.
        case unchanged
        /// New content was seen; poll again after this long to confirm it has settled.
        case settling(hash: String, confirmAfter: Duration)
        /// New content that read the same twice, `settle` apart: act on it.
        case settled(bytes: [UInt8], hash: String)
        /// The file cannot be read (missing, unreadable, too large). Reported once per distinct problem.
        case unreadable(path: String, reason: String)
    }

    public struct Settings: Sendable {
        public var watch: String
        /// The catalog's name when `watch` is a directory (a ConfigMap mount).
        public var file: String = "catalog.yaml"
        /// 30 s: a change that the stamp misses (some network file systems keep mtime) is still found.
        public var fullHashEvery: Duration = .seconds(30)
        /// 200 ms: long enough for an editor or `kubectl cp` to finish writing, short enough to feel instant.
        public var settle: Duration = .milliseconds(200)
        /// 50 ms: the settle once inotify has seen the writer finish (a close after writing, a rename into
        /// place, a `..data` swap): one confirming read instead of the whole settle. Not less: a writer that
        /// builds the file in steps (`cat a > f; cat b >> f`) closes it between them.
        public var settleAfterWriterDone: Duration = .milliseconds(50)
        public var maxBytes: Int = YAMLLimits.default.maxBytes

        public init(watch: String) { self.watch = watch }
    }

    public let settings: Settings
    private let fs: any WatchFileSystem
    private var lastStamp: FileStamp?
    private var lastPath: String?
    private var lastFullRead: ContinuousClock.Instant?
    private var candidate: (hash: String, seen: ContinuousClock.Instant, writerDone: Bool)?
    /// A hint said the writer finished, since the last poll that took it.
    private var writerDone = false
    private var lastProblem: String?
    /// The hash last acted on (settled), whether or not it turned out valid.
    public private(set) var settledHash: String?
    /// Full reads done so far (each one hashes the content).
    public private(set) var reads = 0

    public init(settings: Settings, fileSystem: any WatchFileSystem = LocalFileSystem()) {
        self.settings = settings
        self.fs = fileSystem
    }

    /// The catalog file, resolved anew each time: `..data` swaps, rename-saves and replaced files are all seen.
    public func resolvedPath() -> String {
        guard fs.isDirectory(settings.watch) else { return settings.watch }
        let base = settings.watch.hasSuffix("/") ? String(settings.watch.dropLast()) : settings.watch
        if fs.isDirectory(base + "/..data") { return base + "/..data/" + settings.file }
        return base + "/" + settings.file
    }

    /// Records content already acted on (the catalog loaded at startup), so it is not reported as new.
    public mutating func markSettled(hash: String) {
        settledHash = hash
        candidate = nil
    }

    public mutating func poll(now: ContinuousClock.Instant = .now) -> Outcome {
        let path = resolvedPath()
        guard let stamp = fs.stamp(path) else {
            return problem(path, "the file does not exist (yet)")
        }
        let due = lastFullRead.map { now - $0 >= settings.fullHashEvery } ?? true
        if candidate == nil, stamp == lastStamp, path == lastPath, !due { return .unchanged }
        let bytes: [UInt8]
        do {
            bytes = try fs.read(path, limit: settings.maxBytes)
        } catch {
            return problem(path, error.reason)
        }
        reads += 1
        lastProblem = nil
        lastStamp = stamp
        lastPath = path
        lastFullRead = now
        let hash = ContentHash.sha256(bytes)
        // A writer-done hint speaks of the content this read saw, and of no later write.
        let finished = writerDone
        writerDone = false
        if hash == settledHash {
            candidate = nil
            return .unchanged
        }
        if let c = candidate, c.hash == hash {
            let quick = c.writerDone || finished
            candidate?.writerDone = quick
            let needed = quick ? min(settings.settle, settings.settleAfterWriterDone) : settings.settle
            let waited = now - c.seen
            if waited >= needed {
                candidate = nil
                settledHash = hash
                return .settled(bytes: bytes, hash: hash)
            }
            return .settling(hash: hash, confirmAfter: needed - waited)
        }
        candidate = (hash, now, finished)
        return .settling(
            hash: hash,
            confirmAfter: finished ? min(settings.settle, settings.settleAfterWriterDone) : settings.settle)
    }

    /// inotify saw the writer finish (a close after writing, a rename into place, a `..data` swap): the content
    /// the next poll reads needs only one confirming read, `settleAfterWriterDone` later, instead of the whole
    /// settle. Where no hint comes (NFS, Docker Desktop shares), the whole settle stays.
    public mutating func writerFinished() {
        writerDone = true
        // The stamp may not have moved (a rename of equal size within the same tick): read anyway.
        lastStamp = nil
    }

    private mutating func problem(_ path: String, _ reason: String) -> Outcome {
        candidate = nil
        lastStamp = nil
        let key = path + reason
        if key == lastProblem { return .unchanged }
        lastProblem = key
        return .unreadable(path: path, reason: reason)
    }
}

extension CatalogPoller {
    /// One poll on `lane`'s thread. A poll that hangs (`stat` and `open` on a dead mount block in the kernel)
    /// reports the file unreadable once; while it stays stuck, later polls report nothing new.
    public mutating func poll(
        on lane: BlockingLane, within timeout: Duration = fileReadDeadline, now: ContinuousClock.Instant = .now
    ) async -> Outcome {
        let before = self
        let outcome = await lane.run(within: timeout) { () -> (CatalogPoller, Outcome) in
            var poller = before
            let outcome = poller.poll(now: now)
            return (poller, outcome)
        }
        switch outcome {
        case .done(let (after, result)):
            self = after
            return result
        case .timedOut:
            // The configured path: resolving it could itself hang on the dead mount.
            return .unreadable(path: settings.watch, reason: BlockingLane.hung(settings.watch, timeout).reason)
        case .busy:
            return .unchanged
        }
    }
}
