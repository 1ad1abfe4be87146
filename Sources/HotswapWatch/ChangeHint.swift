import Foundation
import Synchronization

/// inotify as a hint, polling as the truth: when the kernel reports a change in the watched directory the
/// poller looks at once instead of at its next tick. Where inotify says nothing (Docker Desktop shares, NFS,
/// some ConfigMap setups), polling still finds every change; a hint never decides anything by itself.
final class ChangeHint: Sendable {
    private struct State {
        /// An event arrived while nobody was waiting.
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// The current wait is over (timed out); a late waiter must not park.
        var abandoned = false
    }

    private let state = Mutex(State())

    /// Watches `directory` for entries created, written, moved or removed; nil when inotify is unavailable.
    init?(directory: String) {
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
                self.fire()
            }
        }
        thread.name = "inotify hint"
        thread.start()
    }

    private func fire() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits for a hint or `timeout`, whichever comes first.
    func wait(upTo timeout: Duration) async {
        let early = state.withLock { s -> Bool in
            s.abandoned = false
            if s.pending {
                s.pending = false
                return true
            }
            return false
        }
        if early { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLock { s -> Bool in
                        if s.pending || s.abandoned {
                            s.pending = false
                            return true
                        }
                        s.waiter = c
                        return false
                    }
                    if now { c.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            _ = await group.next()
            let parked = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.abandoned = true
                defer { s.waiter = nil }
                return s.waiter
            }
            parked?.resume()
            group.cancelAll()
        }
    }
}
