import Foundation
import HotswapRuntime
import Synchronization

/// inotify as a hint, polling as the truth: when the kernel reports a change in the watched directory the
/// poller looks at once instead of at its next tick. Where inotify says nothing (Docker Desktop shares, NFS,
/// some ConfigMap setups), polling still finds every change; a hint never decides anything by itself.
final class ChangeHint: Sendable {
    private struct State {
        /// An event arrived while nobody was waiting.
        var pending = false
        /// A writer finished with the catalog since the last `takeWriterDone()`: it was closed after writing,
        /// renamed into place, or a ConfigMap's `..data` was swapped.
        var writerDone = false
        /// Wakes the current wait (a no-op once its deadline has passed).
        var waiter: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Watches `directory` for entries created, written, moved or removed; nil when inotify is unavailable.
    /// A close after writing, or a move into place, of one of `finished` (the catalog's name, `..data`) also
    /// says its writer is done.
    init?(directory: String, finished: Set<String> = []) {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            close(fd)
            return nil
        }
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                self.fire(writerDone: Self.writerDone(in: buffer[0..<n], finished))
            }
        }
        thread.name = "inotify hint"
        thread.start()
    }

    /// Whether a buffer of `inotify_event`s holds a close-after-write or a move-into-place of one of `names`.
    static func writerDone(in events: ArraySlice<UInt8>, _ names: Set<String>) -> Bool {
        let header = MemoryLayout<inotify_event>.size
        var offset = events.startIndex
        while offset + header <= events.endIndex {
            let mask = events.withUnsafeBytes {
                $0.loadUnaligned(fromByteOffset: offset - events.startIndex + 4, as: UInt32.self)
            }
            let length = Int(
                events.withUnsafeBytes {
                    $0.loadUnaligned(fromByteOffset: offset - events.startIndex + 12, as: UInt32.self)
                })
            let nameBytes = events[(offset + header)..<min(events.endIndex, offset + header + length)]
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0, names.contains(name) { return true }
            offset += header + length
        }
        return false
    }

    /// Whether a writer finished with the catalog since the last call (and forgets it).
    func takeWriterDone() -> Bool {
        state.withLock { s in
            defer { s.writerDone = false }
            return s.writerDone
        }
    }

    private func fire(writerDone: Bool) {
        let waiter = state.withLock { s -> (@Sendable () -> Void)? in
            if writerDone { s.writerDone = true }
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?()
    }

    /// Waits for a hint or `timeout`, whichever comes first. One continuation and one timer, no child tasks: this
    /// runs twice a second for as long as the watcher does, and every thread hand-off costs idle CPU.
    func wait(upTo timeout: Duration) async {
        let early = state.withLock { s -> Bool in
            defer { s.pending = false }
            return s.pending
        }
        if early { return }
        _ = await waitForEvent(within: timeout) { woken in
            let now = state.withLock { s -> Bool in
                if s.pending {
                    s.pending = false
                    return true
                }
                s.waiter = woken
                return false
            }
            if now { woken() }
        }
        // A hint that comes after the deadline and before this wakes nobody: the poll that follows sees its change.
        state.withLock { $0.waiter = nil }
    }
}
