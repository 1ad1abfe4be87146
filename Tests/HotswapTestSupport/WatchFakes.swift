import HotswapCore
import HotswapWatch
import Synchronization

/// A file system in memory: tests set the content and the stamp, and count reads. Safe to poll from the
/// controller's poll thread while the test changes it.
public final class MemoryFileSystem: WatchFileSystem, Sendable {
    private struct Contents {
        var files: [String: (bytes: [UInt8], stamp: FileStamp)] = [:]
        var directories: Set<String> = []
        var inode: UInt64 = 1
        var reads = 0
    }

    private let contents = Mutex(Contents())

    public init() {}

    /// Writes `text` at `path` with a new stamp (or, with `keepStamp`, the old one: an edit `stat` cannot see).
    public func set(_ path: String, _ text: String, keepStamp: Bool = false) {
        contents.withLock { c in
            c.inode += 1
            let stamp =
                keepStamp
                ? c.files[path]!.stamp
                : FileStamp(
                    device: 1, inode: c.inode, size: Int64(text.utf8.count), mtime: Int64(c.inode),
                    ctime: Int64(c.inode))
            c.files[path] = (Array(text.utf8), stamp)
        }
    }

    public func remove(_ path: String) { contents.withLock { _ = $0.files.removeValue(forKey: path) } }
    public func addDirectory(_ path: String) { contents.withLock { _ = $0.directories.insert(path) } }
    public func removeDirectory(_ path: String) { contents.withLock { _ = $0.directories.remove(path) } }
    public var reads: Int { contents.withLock { $0.reads } }

    public func stamp(_ path: String) -> FileStamp? { contents.withLock { $0.files[path]?.stamp } }
    public func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8] {
        let bytes = contents.withLock { c -> [UInt8]? in
            c.reads += 1
            return c.files[path]?.bytes
        }
        guard let bytes else { throw FileIO.Failure(path: path, reason: "cannot open: No such file", errno: 2) }
        return bytes
    }
    public func isDirectory(_ path: String) -> Bool { contents.withLock { $0.directories.contains(path) } }
}

/// A clock that moves only when the test advances it.
public final class ManualClock: Sendable {
    private let offset = Mutex(Duration.zero)
    private let origin = ContinuousClock.now

    public init() {}

    public func advance(by d: Duration) { offset.withLock { $0 += d } }
    public var now: ContinuousClock.Instant { origin + offset.withLock { $0 } }
    public var watchClock: WatchClock { WatchClock { [self] in self.now } }
}

/// A signaler that records what it was sent and answers what the test scripts (confirmed by default).
public final class ScriptedSignaler: Signaler, Sendable {
    public struct Sent: Sendable, Equatable {
        public var sha256: String
        public var token: String?
    }

    private let state = Mutex<(sent: [Sent], answers: [SignalOutcome])>(([], []))

    public init() {}

    public var name: String { "scripted" }
    public var sent: [Sent] { state.withLock { $0.sent } }

    /// The next pushes get these answers, in order; after them, `confirmed`.
    public func answer(_ outcomes: SignalOutcome...) { state.withLock { $0.answers += outcomes } }

    public func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome {
        state.withLock { s in
            s.sent.append(Sent(sha256: sha256, token: token))
            return s.answers.isEmpty ? .confirmed(generation: s.sent.count) : s.answers.removeFirst()
        }
    }
}
