import Dispatch
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The outcome of one JSON-RPC request: the `result`, or the `error` object as the server sent it.
public enum RPCOutcome: Sendable, Hashable {
    case result(JSONValue)
    case error(JSONValue)
}

/// Errors talking to a backend, each with a message a client can read.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case timeout, closed, unavailable, protocolViolation, startFailed
    }

    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// Newline-delimited JSON-RPC over a child's stdin and stdout (the MCP stdio transport).
///
/// Requests get ids of the gateway's own, so calls from many clients never collide; responses are matched
/// by id and resumed on their waiting task.
public final class StdioConnection: Sendable {
    private struct State {
        var nextID: Int64 = 1
        var pending: [Int64: CheckedContinuation<RPCOutcome, any Error>] = [:]
        var closedReason: String?
    }

    private let channel: any Channel
    private let state = Mutex(State())
    private let serverID: String
    private let logger: Logger

    private init(channel: any Channel, serverID: String, logger: Logger) {
        self.channel = channel
        self.serverID = serverID
        self.logger = logger
    }

    /// Connects to a spawned child: JSON-RPC on stdin/stdout, stderr lines into the log tagged with the server.
    /// `onNotification` receives notifications the server sends; `onClose` runs once stdout closes.
    public static func connect(
        to child: ChildProcess, serverID: String, group: any EventLoopGroup, logger: Logger,
        onNotification: @escaping @Sendable (JSONValue) -> Void = { _ in },
        onClose: @escaping @Sendable () -> Void = {}
    ) async throws -> StdioConnection {
        let box = ConnectionBox()
        let delivery = OrderedDelivery(label: serverID)
        let stdio = try await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LineHandler(
                            onLine: { line in
                                delivery.deliver(size: line.count) {
                                    box.connection?.received(line, onNotification: onNotification)
                                }
                            },
                            onOversize: { head, size in
                                delivery.deliver(size: 0) { box.connection?.oversized(head: head, size: size) }
                            },
                            onClose: {
                                delivery.deliver(size: 0) {
                                    box.connection?.closed("the server closed its stdout")
                                    onClose()
                                }
                            }))
                }
            }
            .takingOwnershipOfDescriptors(input: child.stdout, output: child.stdin).get()
        var stderrLogger = logger
        stderrLogger[metadataKey: "server.id"] = "\(serverID)"
        stderrLogger[metadataKey: "server.pid"] = "\(child.pid)"
        let relay = StderrRelay(logger: stderrLogger)
        _ = try await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LineHandler(
                            maxLine: StderrRelay.maxLineBytes, onLine: { line in relay.line(line) },
                            onOversize: { head, _ in relay.line(head) }, onClose: { relay.flush() }))
                }
            }
            .takingOwnershipOfDescriptor(input: child.stderr).get()
        let connection = StdioConnection(channel: stdio, serverID: serverID, logger: logger)
        box.connection = connection
        return connection
    }

    /// Sends a request and waits for its response, at most `timeout`. On timeout the server is told with
    /// `notifications/cancelled`.
    public func request(method: String, params: JSONValue?, timeout: Duration) async throws -> RPCOutcome {
        let id = state.withLock { s -> Int64 in
            defer { s.nextID += 1 }
            return s.nextID
        }
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { message["params"] = params }
        let bytes = JSONValue.object(message).serialized + [0x0A]
        return try await withThrowingTaskGroup(of: RPCOutcome.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<RPCOutcome, any Error>) in
                    let closed = self.state.withLock { s -> String? in
                        if let reason = s.closedReason { return reason }
                        s.pending[id] = c
                        return nil
                    }
                    if let closed {
                        c.resume(throwing: BackendError(.closed, "server '\(self.serverID)' is gone: \(closed)"))
                        return
                    }
                    self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).whenFailure { error in
                        self.fail(id, BackendError(.closed, "cannot write to server '\(self.serverID)': \(error)"))
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw BackendError(.timeout, "server '\(self.serverID)' did not answer \(method) within \(timeout)")
            }
            do {
                let first = try await group.next()!
                group.cancelAll()
                return first
            } catch {
                group.cancelAll()
                if let e = error as? BackendError, e.kind == .timeout {
                    fail(id, e)
                    notify(method: "notifications/cancelled", params: ["requestId": .int(id), "reason": "timeout"])
                } else if error is CancellationError {
                    fail(id, error)
                    notify(method: "notifications/cancelled", params: ["requestId": .int(id), "reason": "cancelled"])
                }
                throw error
            }
        }
    }

    /// Sends a notification (no reply expected).
    public func notify(method: String, params: JSONValue?) {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    private func send(_ message: JSONValue) {
        channel.writeAndFlush(ByteBuffer(bytes: message.serialized + [0x0A]), promise: nil)
    }

    /// Requests waiting for a reply.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Closes the pipes; every waiting request fails.
    public func close() {
        closed("the connection was closed")
        channel.close(promise: nil)
    }

    private func fail(_ id: Int64, _ error: any Error) {
        let c = state.withLock { $0.pending.removeValue(forKey: id) }
        c?.resume(throwing: error)
    }

    fileprivate func closed(_ reason: String) {
        let waiting = state.withLock { s -> [CheckedContinuation<RPCOutcome, any Error>] in
            if s.closedReason == nil { s.closedReason = reason }
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        for c in waiting {
            c.resume(throwing: BackendError(.closed, "server '\(serverID)' is gone: \(reason)"))
        }
    }

    /// A message over the line limit was skipped: fail the request it answers (its id is near the start of
    /// any JSON-RPC response a server writes) with what happened, and keep the connection.
    fileprivate func oversized(head: [UInt8], size: Int) {
        logger.warning(
            "server sent a message over the size limit; it was dropped",
            metadata: ["server.id": "\(serverID)", "bytes": "\(size)", "limit": "\(LineHandler.defaultMaxLine)"])
        guard let id = Self.responseID(in: head) else { return }
        fail(
            id,
            BackendError(
                .protocolViolation,
                "server '\(serverID)' answered with a message of \(size) bytes, over the gateway's limit of "
                    + "\(LineHandler.defaultMaxLine) bytes; ask for less (pagination, a smaller range)"))
    }

    /// The integer `"id"` of a JSON-RPC message from its first bytes, without parsing the rest.
    static func responseID(in head: [UInt8]) -> Int64? {
        let text = String(decoding: head, as: UTF8.self)
        var search = text[...]
        while let r = search.range(of: "\"id\"") {
            var rest = search[r.upperBound...].drop { $0 == " " || $0 == "\t" }
            if rest.first == ":" {
                rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
                let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == "-") }
                if let id = Int64(digits) { return id }
            }
            search = search[r.upperBound...]
        }
        return nil
    }

    fileprivate func received(_ line: [UInt8], onNotification: @Sendable (JSONValue) -> Void) {
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
        let message: JSONValue
        do {
            message = try JSONValue.parse(line)
        } catch {
            logger.warning(
                "server wrote a line that is not JSON on stdout; MCP servers must log to stderr",
                metadata: ["server.id": "\(serverID)", "error": "\(error)"])
            return
        }
        // A batch (older revisions allowed them) is handled message by message.
        if case .array(let items) = message {
            for item in items { handle(item, onNotification: onNotification) }
        } else {
            handle(message, onNotification: onNotification)
        }
    }

    private func handle(_ message: JSONValue, onNotification: @Sendable (JSONValue) -> Void) {
        let id = message["id"]
        if let method = message["method"]?.stringValue {
            guard let id, id != .null else {
                onNotification(message)
                return
            }
            // A request from the server to its client. The gateway answers ping itself; sampling, roots and
            // elicitation need a client on the other side of a session, which stdio backends do not have here.
            if method == "ping" {
                send(["jsonrpc": "2.0", "id": id, "result": [:]])
            } else {
                send([
                    "jsonrpc": "2.0", "id": id,
                    "error": ["code": -32601, "message": "hotswap gateway does not forward '\(method)' to clients"],
                ])
            }
            return
        }
        guard let numeric = id?.intValue else { return }
        let c = state.withLock { $0.pending.removeValue(forKey: numeric) }
        guard let c else { return }
        if let error = message["error"] {
            c.resume(returning: .error(error))
        } else {
            c.resume(returning: .result(message["result"] ?? .null))
        }
    }
}

/// Hands one backend's messages to their handler in the order they came, and keeps large ones off the event
/// loop: parsing a 50 MB result there would stall every other server's channel on the same loop for as long.
/// Small messages are handled inline when nothing is queued (the common case costs no hop); a large one, and
/// everything after it until the queue is empty again, goes through a serial queue of its own.
