import Dispatch
import HotswapCore
import HotswapGateway
import HotswapRuntime
import Logging
import Synchronization

/// A transport whose other end is the test: it records what the session sends and lets the test answer.
final class FakeTransport: BackendTransport {
    let sent = Mutex<[JSONValue]>([])
    let closedCount = Atomic<Int>(0)
    let failWrites = Atomic<Bool>(false)
    var events: TransportEvents? {
        get { eventsBox.withLock { $0 } }
        set { eventsBox.withLock { $0 = newValue } }
    }
    private let eventsBox = Mutex<TransportEvents?>(nil)
    var maxMessageBytes: Int { 1 << 20 }

    func send(_ bytes: [UInt8], message: JSONValue, failed: @escaping @Sendable (String) -> Void) {
        if failWrites.load(ordering: .relaxed) {
            failed("broken pipe")
            return
        }
        // What goes on the wire, read back: the bytes must say what the message says.
        if let value = try? JSONValue.parse(bytes) { sent.withLock { $0.append(value) } }
    }

    func close() {
        closedCount.add(1, ordering: .relaxed)
        events?.closed("closed by the gateway")
    }

    /// Delivers a message from the "server".
    func deliver(_ message: JSONValue) { events?.message(message.serialized) }

    func requests(_ method: String) -> [JSONValue] {
        sent.withLock { $0.filter { $0["method"]?.stringValue == method } }
    }
}

/// An MCP server in memory, behind a launcher: answers `initialize` and `tools/list`, and `tools/call` of
/// `echo` (answers its text and the server's version) and `hold` (answers when the test opens the gate).
/// A server whose command is `refuse` refuses `initialize`.
final class InMemoryServer: BackendLink, BackendTransport {
    let id: String
    let version: String
    let refuse: Bool
    let events: TransportEvents
    let terminated = Atomic<Bool>(false)
    let cancelledIDs = Mutex<[JSONValue]>([])
    private let held = Mutex<[JSONValue]>([])
    private let ending = Mutex<(body: (@Sendable (String) -> Void)?, ended: String?)>((nil, nil))
    private let queue = DispatchQueue(label: "in-memory-server")

    init(id: String, version: String, refuse: Bool, events: TransportEvents) {
        self.id = id
        self.version = version
        self.refuse = refuse
        self.events = events
    }

    var transport: any BackendTransport { self }
    var pid: Int32? { nil }
    var maxMessageBytes: Int { 1 << 20 }
    var heldCount: Int { held.withLock { $0.count } }
    var isTerminated: Bool { terminated.load(ordering: .relaxed) }

    func send(_ bytes: [UInt8], message: JSONValue, failed: @escaping @Sendable (String) -> Void) {
        guard !terminated.load(ordering: .relaxed), let m = try? JSONValue.parse(bytes) else {
            failed("the server is gone")
            return
        }
        queue.async { self.handle(m) }
    }

    private func handle(_ m: JSONValue) {
        guard let method = m["method"]?.stringValue else { return }
        guard let id = m["id"] else {
            if method == "notifications/cancelled" {
                cancelledIDs.withLock { $0.append(m["params"]?["requestId"] ?? .null) }
            }
            return
        }
        switch method {
        case "initialize" where refuse:
            reply(id, error: "not today")
        case "initialize":
            reply(id, ["protocolVersion": "2025-11-25", "capabilities": ["tools": [:]]])
        case "tools/list":
            reply(id, ["tools": [["name": "echo"], ["name": "hold"]]])
        case "tools/call" where m["params"]?["name"] == "hold":
            held.withLock { $0.append(id) }
        case "tools/call":
            let text = m["params"]?["arguments"]?["text"]?.stringValue ?? ""
            reply(id, ["content": [["type": "text", "text": .string("\(version):\(text)")]]])
        default:
            reply(id, error: "method not found")
        }
    }

    /// Answers every held `hold` call.
    func release() {
        for id in held.withLock({ h in
            defer { h = [] }
            return h
        }) {
            reply(id, ["content": [["type": "text", "text": .string("\(version):held")]]])
        }
    }

    private func reply(_ id: JSONValue, _ result: JSONValue) {
        events.message(JSONValue.object(["jsonrpc": "2.0", "id": id, "result": result]).serialized)
    }

    private func reply(_ id: JSONValue, error: String) {
        events.message(
            JSONValue.object(["jsonrpc": "2.0", "id": id, "error": ["code": -32601, "message": .string(error)]])
                .serialized)
    }

    func close() {}

    func onEnd(_ body: @escaping @Sendable (String) -> Void) {
        let ended = ending.withLock { e -> String? in
            if e.ended == nil { e.body = body }
            return e.ended
        }
        if let ended { body(ended) }
    }

    /// The server dies on its own.
    func crash() { end("exit 1") }

    private func end(_ how: String) {
        terminated.store(true, ordering: .relaxed)
        let body = ending.withLock { e -> (@Sendable (String) -> Void)? in
            guard e.ended == nil else { return nil }
            e.ended = how
            return e.body
        }
        events.closed("the server closed its stdout")
        body?(how)
    }

    func reap() {}

    func terminate(grace: Duration) async -> String {
        end("terminated")
        return "terminated"
    }
}

/// Launches `InMemoryServer`s: the catalog's `command` is the server's version (`refuse` refuses initialize).
final class InMemoryLauncher: BackendLauncher {
    let launched = Mutex<[InMemoryServer]>([])

    func launch(
        _ server: ServerDefinition, environment: [String: String], logger: Logger, events: TransportEvents
    ) async throws -> any BackendLink {
        guard case .localProcess(let local) = server.runtime else { throw BackendError(.startFailed, "remote") }
        let s = InMemoryServer(
            id: server.id, version: local.command, refuse: local.command == "refuse", events: events)
        launched.withLock { $0.append(s) }
        return s
    }

    func servers(_ id: String) -> [InMemoryServer] { launched.withLock { $0.filter { $0.id == id } } }
}
