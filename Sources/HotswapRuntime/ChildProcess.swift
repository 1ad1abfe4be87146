import CHotswapSys
import Foundation
import Synchronization

/// A spawned child in its own process group, with pipes for stdin, stdout and stderr.
///
/// Exit is observed by a thread blocked in `waitpid` for this pid only, so nothing else in the process
/// (another library's children, tini) is disturbed, and the child is always reaped: no zombies.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// Write end of the child's stdin, read ends of its stdout and stderr; owned by whoever takes them.
    public let stdin: Int32
    public let stdout: Int32
    public let stderr: Int32

    private let exit = Mutex<ExitState>(ExitState())

    private struct ExitState {
        var status: Int32?
        var waiters: [@Sendable (Int32) -> Void] = []
    }

    /// Why a spawn failed, with the errno text.
    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public var command: String
        public var code: Int32
        public var description: String {
            let reason = String(cString: strerror(code))
            if code == ENOENT { return "cannot run '\(command)': command not found (\(reason))" }
            return "cannot run '\(command)': \(reason)"
        }
    }

    private init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Spawns `command` with `arguments`. `environment` is the whole environment of the child. Errors name the
    /// command as `displayName` (the catalog's unexpanded spelling), never the expanded text.
    public static func spawn(
        command: String, arguments: [String], environment: [String: String], workingDirectory: String?,
        displayName: String? = nil
    ) throws(SpawnError) -> ChildProcess {
        let shown = displayName ?? command
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        for i in 0..<3 {
            let rc: Int32
            switch i {
            case 0: rc = hotswap_pipe_cloexec(&inPipe)
            case 1: rc = hotswap_pipe_cloexec(&outPipe)
            default: rc = hotswap_pipe_cloexec(&errPipe)
            }
            if rc != 0 {
                for fd in inPipe + outPipe + errPipe where fd >= 0 { close(fd) }
                throw SpawnError(command: shown, code: rc)
            }
        }
        // A 1 MiB stdout pipe (the unprivileged maximum) instead of 64 KiB: a large result crosses in a sixteenth
        // of the wake-ups, and a server writing one is blocked less often waiting for the gateway to read.
        _ = hotswap_pipe_resize(outPipe[0], 1 << 20)
        let argv = [command] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(envp) { cenvp in
                if let workingDirectory {
                    return hotswap_spawn(
                        command, cargv, cenvp, workingDirectory, inPipe[0], outPipe[1], errPipe[1], &pid)
                }
                return hotswap_spawn(command, cargv, cenvp, nil, inPipe[0], outPipe[1], errPipe[1], &pid)
            }
        }
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnError(command: shown, code: rc)
        }
        let child = ChildProcess(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
        let thread = Thread { [child] in
            var status: Int32 = 0
            while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
            child.exited(status)
        }
        thread.name = "waitpid \(pid)"
        thread.start()
        return child
    }

    private func exited(_ status: Int32) {
        let waiters = exit.withLock { state -> [@Sendable (Int32) -> Void] in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for w in waiters { w(status) }
    }

    /// The raw wait status once the child has exited.
    public var exitStatus: Int32? { exit.withLock { $0.status } }

    public var hasExited: Bool { exitStatus != nil }

    /// Calls `body` once the child has exited (at once if it has), on the thread that reaped it: an exit watch
    /// that needs no task of its own.
    public func onExit(_ body: @escaping @Sendable (Int32) -> Void) {
        let done = exit.withLock { state -> Int32? in
            if let s = state.status { return s }
            state.waiters.append(body)
            return nil
        }
        if let done { body(done) }
    }

    /// Waits for the child to exit; returns the raw wait status.
    public func waitForExit() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            onExit { c.resume(returning: $0) }
        }
    }

    /// Waits up to `timeout`; true when the child exited in time. Returns at the deadline even though the
    /// child is still there.
    public func waitForExit(timeout: Duration) async -> Bool {
        let inTime = await waitForEvent(within: timeout) { exited in onExit { _ in exited() } }
        return inTime || hasExited
    }

    /// Sends `signal` to the child's whole process group (it and anything it started).
    public func signalGroup(_ signal: Int32) {
        guard !hasExited else {
            // The leader is gone, but grandchildren may still hold the group.
            _ = kill(-pid, signal)
            return
        }
        _ = kill(-pid, signal)
    }

    /// SIGTERM to the group, then SIGKILL after `grace` if the child is still there.
    public func terminate(grace: Duration) async {
        signalGroup(SIGTERM)
        if await waitForExit(timeout: grace) {
            // Make sure nothing of the group outlives its leader.
            _ = kill(-pid, SIGKILL)
            return
        }
        signalGroup(SIGKILL)
        _ = await waitForExit()
    }

    /// A description of a wait status: "exited with 1", "killed by signal 9".
    public static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return body(pointers)
}
