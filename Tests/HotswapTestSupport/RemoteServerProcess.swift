import Foundation
import Synchronization

/// An MCP server written with the Python SDK, served over Streamable HTTP on loopback for a test (the
/// interop feature server with `--http`): plain or TLS, with a bearer token or without.
public final class RemoteServerProcess: Sendable {
    public let name: String
    public let port: Int
    public let logPath: String
    let python: String
    let extra: [String]
    let process: Mutex<Process>

    public static let script = TestPaths.packageRoot.appendingPathComponent("scripts/interop/feature_server.py").path

    /// Starts the server (on `port`, or a free one) and waits until it listens. `marker` tags its command line.
    public init(
        name: String, port: Int = 0, python: String = TestPaths.python, token: String? = nil,
        tls: (cert: String, key: String)? = nil, marker: String, directory: TemporaryDirectory
    ) async throws {
        var extra: [String] = []
        if let token { extra += ["--token", token] }
        if let tls { extra += ["--tls", tls.cert, tls.key] }
        extra.append("--\(marker)")
        self.name = name
        self.python = python
        self.extra = extra
        self.logPath = directory.file("\(name)-http.log")
        let portFile = directory.file("\(name)-\(UUID().uuidString).port")
        let process = try Self.launch(python, name, port, extra, portFile: portFile, log: logPath)
        var found: Int?
        try await eventually("the HTTP server \(name) to listen (log: \(logPath))") {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            return found != nil
        }
        self.port = found!
        self.process = Mutex(process)
        try await waitListening()
    }

    static func launch(
        _ python: String, _ name: String, _ port: Int, _ extra: [String], portFile: String, log: String
    ) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--name", name, "--http", "\(port)", "--port-file", portFile] + extra
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    deinit {
        process.withLock { if $0.isRunning { kill($0.processIdentifier, SIGKILL) } }
    }

    func waitListening() async throws {
        let port = port
        try await eventually("the HTTP server \(name) to accept connections on \(port)") {
            Self.accepts(port: port)
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the server at once (SIGKILL: uvicorn would wait for the gateway's open event stream) and waits
    /// for it to exit.
    public func stop() async throws {
        process.withLock { if $0.isRunning { kill($0.processIdentifier, SIGKILL) } }
        try await eventually("the HTTP server \(name) to exit") { self.process.withLock { !$0.isRunning } }
    }

    /// Starts it again on the same port (a server that went down and came back).
    public func restart() async throws {
        let portFile = logPath + ".port"
        let next = try Self.launch(python, name, port, extra, portFile: portFile, log: logPath)
        process.withLock { $0 = next }
        try await waitListening()
    }
}
