import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore

/// A failed expectation about a process under test, with what it logged.
public struct ProcessTestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Waits for `condition` to hold, checking every 20 ms, failing after `timeout`. The one place tests wait.
public func eventually(
    _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw ProcessTestFailure("timed out after \(timeout) waiting for: \(what)")
}

/// A `hotswap gateway` started for a test, in its own temporary directory, with its control socket there.
public final class GatewayProcess: @unchecked Sendable {
    // @unchecked: Foundation's Process is not Sendable; this wrapper is used from one test at a time.
    public let dir: TemporaryDirectory
    public let process: Process
    public let socket: String
    public let logPath: String
    public let configPath: String
    /// A word in every demo server's arguments, so `leftoverProcesses()` finds this test's children.
    public let marker: String

    /// Starts the gateway on `catalog` (use `demo(name:)` for commands) and waits until it is ready.
    public init(
        catalog: String, arguments: [String] = [], environment: [String: String] = [:], waitReady: Bool = true,
        marker: String = "t\(UInt32.random(in: 0...UInt32.max))"
    ) async throws {
        self.marker = marker
        dir = try TemporaryDirectory("hotswap-gw")
        socket = dir.file("control.sock")
        logPath = dir.file("gateway.log")
        configPath = try dir.write("catalog.yaml", catalog)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.product("hotswap"))
        process.arguments =
            ["gateway", "--config", configPath, "--control-socket", socket, "--shutdown-timeout", "5s"]
            + (arguments.contains("--listen") ? [] : ["--no-listen"]) + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        if waitReady {
            try await eventually("the gateway to be ready (log: \(logPath))") {
                (try? self.request("GET", "/readyz").status) == 200
            }
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The absolute path of the demo server, for catalogs.
    public static var demoServer: String { TestPaths.product("mcp-demo-server") }

    /// A catalog entry for a demo server named `name` (with this test's marker in its arguments).
    public static func demo(_ id: String, name: String? = nil, marker: String, extra: String = "") -> String {
        """
          - id: \(id)
            runtime:
              type: local-process
              command: \(demoServer)
              args: ["--name", "\(name ?? id)-\(marker)"]
        \(extra)
        """
    }

    public func request(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) throws -> HTTPReply {
        try ControlClient.request(.unix(path: socket), method: method, path: path, headers: headers, body: body)
    }

    public func json(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws
        -> (Int, JSONValue)
    {
        let reply = try request(method, path, headers: headers, body: body)
        return (reply.status, (try? JSONValue.parse(reply.body)) ?? .null)
    }

    /// `POST /admin/reload` with these bytes.
    public func reload(_ catalog: String, headers: [(String, String)] = []) throws -> (Int, JSONValue) {
        try json("POST", "/admin/reload", headers: headers, body: Array(catalog.utf8))
    }

    /// The pid of a server's process, from `GET /servers/{id}`.
    public func pid(_ id: String) throws -> Int32? {
        let (_, body) = try json("GET", "/servers/\(id)")
        return body["pid"]?.intValue.map { Int32($0) }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// A session's `GET /mcp` event stream, read by curl into a file of this test's directory; returns once the
    /// stream is open. The events so far are `EventStream.text`.
    public func openEventStream(session: String, name: String = "events.txt") async throws -> EventStream {
        let out = dir.file(name)
        FileManager.default.createFile(atPath: out, contents: nil)
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = [
            "curl", "-s", "-N", "--unix-socket", socket, "-H", "Accept: text/event-stream", "-H",
            "Mcp-Session-Id: \(session)", "http://localhost/mcp",
        ]
        curl.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        try curl.run()
        let stream = EventStream(curl: curl, path: out)
        try await eventually("the event stream to open") { stream.text.contains(": hotswap event stream") }
        return stream
    }

    /// SIGTERM, then waits for the gateway to exit.
    public func stop() async throws {
        if process.isRunning { process.terminate() }
        try await eventually("the gateway to exit", timeout: .seconds(30)) { !self.process.isRunning }
    }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Processes still alive whose command line carries this test's marker (zombies count: nobody reaped them).
    public func leftoverProcesses() -> [String] {
        GatewayProcess.processes(matching: marker)
    }

    public static func processes(matching marker: String) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [String] = []
        for entry in entries where Int32(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty else {
                // A zombie has an empty cmdline; catch it through its status when its parent is ours.
                continue
            }
            let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if cmdline.contains(marker) && !cmdline.contains("pgrep") { found.append("\(entry): \(cmdline)") }
        }
        return found
    }

    /// Stops the gateway, checks no child of it is left, and removes the directory.
    public func finish() async throws {
        try await stop()
        try await eventually("no demo server of this test left running") { leftoverProcesses().isEmpty }
        dir.remove()
    }

    /// Whether a pid is alive (and not a zombie).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return !status.contains("State:\tZ")
    }
}

/// An open `GET /mcp` stream, read by curl.
public struct EventStream: @unchecked Sendable {
    // @unchecked: Foundation's Process is not Sendable; a stream is used from one test at a time.
    public let curl: Process
    public let path: String

    public var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    public var isOpen: Bool { curl.isRunning }
    public func close() { if curl.isRunning { curl.terminate() } }
}

/// A minimal MCP client over Streamable HTTP (JSON replies) through the control socket.
public final class MCPTestClient: @unchecked Sendable {
    // @unchecked: immutable after init; the session id is written once, before the client is shared.
    public let endpoint: ControlEndpoint
    public private(set) var sessionID: String?
    private let nextID = NSLock()
    private var counter = 0

    public init(endpoint: ControlEndpoint) throws {
        self.endpoint = endpoint
        let reply = try post([
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": [
                "protocolVersion": "2025-11-25", "capabilities": [:],
                "clientInfo": ["name": "hotswap-tests", "version": "1"],
            ],
        ])
        guard reply.status == 200, let sid = reply.header("Mcp-Session-Id") else {
            throw ProcessTestFailure("initialize failed: \(reply.status) \(reply.text)")
        }
        sessionID = sid
        _ = try post(["jsonrpc": "2.0", "method": "notifications/initialized"])
    }

    /// A client that goes on with a session begun elsewhere (another gateway, or before a restart).
    public init(endpoint: ControlEndpoint, session: String) {
        self.endpoint = endpoint
        sessionID = session
    }

    public func post(_ message: JSONValue) throws -> HTTPReply {
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
        if let sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
        return try ControlClient.request(
            endpoint, method: "POST", path: "/mcp", headers: headers, body: message.serialized)
    }

    /// Sends a request and returns the whole JSON-RPC response.
    public func call(_ method: String, _ params: JSONValue? = nil) throws -> JSONValue {
        let id: Int64 = nextID.withLock {
            counter += 1
            return Int64(counter)
        }
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { message["params"] = params }
        let reply = try post(.object(message))
        return try Self.response(reply)
    }

    /// The JSON-RPC response of a reply: its body, or, for an event stream (a call that sent progress or log
    /// messages first), the event carrying the response.
    public static func response(_ reply: HTTPReply) throws -> JSONValue {
        guard reply.header("Content-Type")?.hasPrefix("text/event-stream") == true else {
            return try JSONValue.parse(reply.body)
        }
        let messages = try reply.text.components(separatedBy: "\n").filter { $0.hasPrefix("data:") }.map {
            try JSONValue.parse(String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces))
        }
        guard let response = messages.last(where: { $0["method"] == nil }) else {
            throw ProcessTestFailure("an event stream without a response: \(reply.text)")
        }
        return response
    }

    /// Calls a tool; returns the text of its first content item, or throws with the error.
    public func tool(_ name: String, _ arguments: JSONValue = [:]) throws -> String {
        let response = try call("tools/call", ["name": .string(name), "arguments": arguments])
        if let error = response["error"] { throw ProcessTestFailure("\(name): \(error.text)") }
        return response["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue ?? response.text
    }
}

/// Runs blocking work (a socket call that waits seconds for its answer) on a thread of its own, so it does not
/// hold one of the few threads Swift's cooperative pool has on a 2-core machine.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
