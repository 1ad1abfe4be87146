import Foundation
import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import Testing

@Suite("Child processes (real processes)")
struct ChildProcessTests {
    /// The timed wait raced a non-cancellable wait inside a task group, which waits for every child task: it
    /// could not return before the process exited, so SIGKILL after the grace was never sent.
    @Test("a child that ignores SIGTERM is killed after the grace period")
    func sigkillAfterGrace() async throws {
        let dir = try TemporaryDirectory("sigterm")
        defer { dir.remove() }
        let trapped = dir.file("trapped")
        let child = try ChildProcess.spawn(
            command: "/bin/sh", arguments: ["-c", "trap '' TERM; : > \(trapped); while :; do sleep 1; done"],
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: nil)
        close(child.stdin)
        try await eventually("the shell to ignore SIGTERM") { FileManager.default.fileExists(atPath: trapped) }
        let started = ContinuousClock.now
        #expect(await child.waitForExit(timeout: .milliseconds(300)) == false)
        // Behaviour, not speed: before the fix these waits never returned at all. The bounds only catch that,
        // with room for a shared 2-core machine that stalls the whole test process for seconds.
        #expect(ContinuousClock.now - started < .seconds(60), "the timed wait returned at its deadline")
        await child.terminate(grace: .milliseconds(500))
        #expect(child.hasExited)
        #expect(ChildProcess.describe(status: child.exitStatus ?? 0) == "killed by signal 9")
        #expect(ContinuousClock.now - started < .seconds(120))
    }

    /// Issue 8, item 4, for the sidecar: `--validate-command` ran through Foundation's Process, which handed
    /// the validator the sidecar's listening socket and its output file.
    @Test("the sidecar's validator starts with only its stdio")
    func validatorInheritsNothing() async throws {
        let dir = try TemporaryDirectory("validator-fds")
        defer { dir.remove() }
        let report = dir.file("fds.txt")
        let script = try dir.write("validate.sh", "#!/bin/sh\nls -l /proc/$$/fd > \(report)\nexit 0\n")
        chmod(script, 0o755)
        let catalogPath = try dir.write("catalog.yaml", "version: 1\nservers: []\n")
        let run = try await onThread {
            try ProcessRunner.hotswap([
                "sidecar", "--watch", catalogPath, "--once", "--validate-command", "\(script) {}", "--socket",
                dir.file("none.sock"), "--listen", "127.0.0.1:0", "--once-timeout", "1s",
            ])
        }
        let fds = try String(contentsOfFile: report, encoding: .utf8)
        #expect(!fds.contains("socket:"), "\(fds)")
        #expect(!fds.contains("hotswap-validate"), "\(fds)")
        #expect(run.status == 4, "the gateway is unreachable here: \(run)")
    }

    /// A validator whose background child keeps its output pipe open (here one that left the process group)
    /// held the sidecar until that child ended.
    @Test("a validator's escaped background child does not hold the sidecar")
    func validatorBackgroundChild() async throws {
        let dir = try TemporaryDirectory("validator-bg")
        defer { dir.remove() }
        let script = try dir.write("validate.sh", "#!/bin/sh\nsetsid sleep 30 &\necho checked\nexit 0\n")
        chmod(script, 0o755)
        let catalogPath = try dir.write("catalog.yaml", "version: 1\nservers: []\n")
        let started = ContinuousClock.now
        let run = try await onThread {
            try ProcessRunner.hotswap([
                "sidecar", "--watch", catalogPath, "--once", "--validate-command", "\(script) {}", "--socket",
                dir.file("none.sock"), "--no-listen", "--once-timeout", "1s",
            ])
        }
        #expect(run.status == 4, "validated, then the gateway is unreachable: \(run)")
        #expect(ContinuousClock.now - started < .seconds(20), "the sidecar waited for the validator's child")
    }
}
