import Foundation
import Synchronization

/// Another MCP gateway (mcp-hangar, magg: real packages from PyPI, in the venvs `scripts/test` makes) running
/// for a test on a loopback port, logging to a file.
public final class PeerGatewayProcess: Sendable {
    public let port: Int
    public let logPath: String
    let process: Mutex<Process>

    /// mcp-hangar's command (`HOTSWAP_HANGAR`, else `.venv-hangar/bin/mcp-hangar`).
    public static var hangar: String {
        ProcessInfo.processInfo.environment["HOTSWAP_HANGAR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? TestPaths.packageRoot.appendingPathComponent(".venv-hangar/bin/mcp-hangar").path
    }

    /// The Python that has magg (`HOTSWAP_MAGG_PYTHON`, else `.venv-magg/bin/python`); magg is beside it.
    public static var maggPython: String {
        ProcessInfo.processInfo.environment["HOTSWAP_MAGG_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
            ?? TestPaths.packageRoot.appendingPathComponent(".venv-magg/bin/python").path
    }

    public static var magg: String { URL(fileURLWithPath: maggPython).deletingLastPathComponent().path + "/magg" }

    /// Starts `executable` with `arguments` (`{port}` replaced by a free port) in `directory`, and waits until it
    /// accepts connections on that port.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], name: String,
        directory: TemporaryDirectory
    ) async throws {
        let port = try Self.freePort()
        self.port = port
        logPath = directory.file("\(name).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.python)
        process.arguments =
            Self.unblockingSignals + [executable]
            + arguments.map { $0.replacingOccurrences(of: "{port}", with: "\(port)") }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory.url
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = Mutex(process)
        let log = logPath
        try await eventually("\(name) to accept connections on \(port) (log: \(log))", timeout: .seconds(60)) {
            guard process.isRunning else { throw ProcessTestFailure("\(name) exited; log: \(log)") }
            return RemoteServerProcess.accepts(port: port)
        }
    }

    deinit {
        process.withLock { if $0.isRunning { kill($0.processIdentifier, SIGKILL) } }
    }

    /// Arguments for `python` that clear the signal mask and exec the rest: Foundation's `Process` starts children
    /// with almost every signal blocked, and a gateway whose SIGHUP is blocked never sees the sidecar's signal.
    public static let unblockingSignals = [
        "-c",
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
    ]

    public var url: String { "http://127.0.0.1:\(port)/mcp" }
    public var pid: Int32 { process.withLock { $0.processIdentifier } }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM (both gateways stop their servers on it), then SIGKILL after 15 s.
    public func stop() async throws {
        process.withLock { if $0.isRunning { kill($0.processIdentifier, SIGTERM) } }
        do {
            try await eventually("the gateway to exit", timeout: .seconds(15)) {
                self.process.withLock { !$0.isRunning }
            }
        } catch {
            process.withLock { if $0.isRunning { kill($0.processIdentifier, SIGKILL) } }
        }
    }

    /// A port nothing listens on now (bound to port 0, read, closed).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProcessTestFailure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw ProcessTestFailure("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
