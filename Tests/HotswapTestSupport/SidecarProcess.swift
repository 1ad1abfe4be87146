import Foundation
import HotswapClient
import HotswapCore

/// A `hotswap sidecar` started for a test, logging to a file, with its metrics on a loopback port.
public final class SidecarProcess: @unchecked Sendable {
    // @unchecked: Foundation's Process is not Sendable; one test uses one sidecar.
    public let process: Process
    public let logPath: String

    public init(_ arguments: [String], logPath: String, waitListening: Bool = true) async throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
        process.arguments = ["sidecar", "--listen", "127.0.0.1:0"] + arguments
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        if waitListening { _ = try await port() }
    }

    deinit {
        // A test that failed half-way must not leave its sidecar running.
        if process.isRunning { process.terminate() }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The metrics port the sidecar logged.
    public func port() async throws -> Int {
        var port: Int?
        try await eventually("the sidecar to log its port (log: \(logPath))") {
            for line in self.log.split(separator: "\n") where line.contains(" listening ") {
                if let last = line.split(separator: ":").last, let p = Int(last.prefix { $0.isNumber }) { port = p }
            }
            return port != nil
        }
        return port!
    }

    /// The sidecar's metrics as name{labels} → value.
    public func metrics() async throws -> [String: Double] {
        let reply = try ControlClient.request(
            .tcp(host: "127.0.0.1", port: try await port()), method: "GET", path: "/metrics")
        var out: [String: Double] = [:]
        for line in reply.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            out[String(line[..<space])] = value
        }
        return out
    }

    public func metric(_ name: String) async throws -> Double { try await metrics()[name] ?? 0 }

    public func stop() async throws {
        if process.isRunning { process.terminate() }
        try await eventually("the sidecar to exit") { !self.process.isRunning }
    }
}
