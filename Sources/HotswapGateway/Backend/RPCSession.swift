import Dispatch
import HotswapCore
import HotswapRuntime
import Logging
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

/// JSON-RPC with one backend, over any `BackendTransport`.
///
/// Requests get ids of the gateway's own, so calls from many clients never collide; a pending table matches
/// responses to their waiting task. A request that times out, or whose task is cancelled (its client went
/// away), fails at once and the server is told with `notifications/cancelled`; a progress notification for a
/// request pushes its timeout back. Requests from the server go to `handlers.request` (run by the supervisor)
/// and its answer goes back; notifications go to `handlers.notification` in the order they came.
public final class RPCSession: Sendable {
    /// What the session does with messages the server starts.
    public struct Handlers: Sendable {
        public var notification: @Sendable (JSONValue) -> Void
        public var request: @Sendable (_ method: String, _ params: JSONValue?) async -> RPCOutcome

        public init(
            notification: @escaping @Sendable (JSONValue) -> Void = { _ in },
            request: @escaping @Sendable (_ method: String, _ params: JSONValue?) async -> RPCOutcome = {
                method, _ in
                if method == "ping" { return .result([:]) }
                return .error(["code": -32601, "message": "hotswap gateway does not forward '\(method)' to clients"])
            }
        ) {
            self.notification = notification
            self.request = request
        }
    }

    private struct Pending {
        var waiter: CheckedContinuation<RPCOutcome, any Error>
        var method: String
        var timeout: Duration
        var deadline: ContinuousClock.Instant
        /// `max_call_duration`: progress moves `deadline` on, never past this.
        var ceiling: ContinuousClock.Instant?
        var onProgress: (@Sendable (JSONValue) -> Void)?
        /// Handed to the transport: a cancellation from now on can be sent after it.
        var sent = false
    }

    private struct State {
        var nextID: Int64 = 1
        var pending: [Int64: Pending] = [:]
        var transport: (any BackendTransport)?
        /// Messages written before `attach` (answers to a server's early requests), sent on attach.
        var unattached: [JSONValue] = []
        var closedReason: String?
        /// Requests given up (cancelled, timed out) before they were handed to the transport: their
        /// `notifications/cancelled` goes out right after them, never before.
        var cancelAfterSend: [Int64: String] = [:]
        /// The server's own requests being answered by a client (sampling, elicitation: a person may take
        /// minutes). The server is waiting on us, so no request of ours times out meanwhile; `max_call_duration`
        /// still holds.
        var serverRequestsOut = 0
        /// Keys every request's `params._meta` carries (a 2026-07-28 server's per-request envelope).
        var envelope: [String: JSONValue] = [:]
    }

    private let state = Mutex(State())
    private let serverID: String
    private let logger: Logger
    private let handlers: Handlers
    private let tasks: TaskSupervisor

    public init(serverID: String, logger: Logger, tasks: TaskSupervisor, handlers: Handlers = Handlers()) {
        self.serverID = serverID
        self.logger = logger
        self.tasks = tasks
        self.handlers = handlers
    }

    /// The callbacks a transport reports to. Messages that arrive before `attach` are handled; answers to them
    /// wait for the transport.
    public var events: TransportEvents {
        TransportEvents(
            message: { [weak self] bytes in self?.received(bytes) },
            oversize: { [weak self] head, size in self?.oversized(head: head, size: size) },
            closed: { [weak self] reason in self?.closed(reason) })
    }

    /// Connects the session to its transport.
    public func attach(_ transport: any BackendTransport) {
        let early = state.withLock { s -> [JSONValue] in
            s.transport = transport
            defer { s.unattached = [] }
            return s.unattached
        }
        for message in early { transport.send(message.serialized, message: message) { _ in } }
    }

    /// Keys added to every request's `params._meta` from now on (a key the request sets itself wins): the
    /// per-request envelope of revision 2026-07-28, which has no `initialize` to say them once.
    public func setEnvelope(_ envelope: [String: JSONValue]) {
        state.withLock { $0.envelope = envelope }
    }

    /// Requests waiting for a reply.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Messages waiting for `attach`.
    var unattachedCount: Int { state.withLock { $0.unattached.count } }

    /// When a pending request times out unless progress comes first.
    func deadline(of id: Int64) -> ContinuousClock.Instant? { state.withLock { $0.pending[id]?.deadline } }

    // MARK: Requests

    /// Sends a request and waits for its response. Fails with `.timeout` when no response (and, with
    /// `onProgress`, no progress) comes within `timeout`, and with `CancellationError` when the task is
    /// cancelled; either way the server gets `notifications/cancelled`. With `onProgress`, the request carries
    /// a progress token of the session's own and the server's progress notifications for it go there. With
    /// `ceiling`, the request fails after that long however much progress comes.
    public func request(
        method: String, params: JSONValue?, timeout: Duration, ceiling: Duration? = nil,
        onProgress: (@Sendable (JSONValue) -> Void)? = nil
    ) async throws -> RPCOutcome {
        let (id, envelope) = state.withLock { s -> (Int64, [String: JSONValue]) in
            defer { s.nextID += 1 }
            return (s.nextID, s.envelope)
        }
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        message["params"] = Self.stamped(params, progressToken: onProgress == nil ? nil : .int(id), envelope)
        let value = JSONValue.object(message)
        let bytes = value.serialized
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<RPCOutcome, any Error>) in
                let refusal = state.withLock { s -> (any Error)? in
                    if let reason = s.closedReason {
                        return BackendError(.closed, "server '\(serverID)' is gone: \(reason)")
                    }
                    if Task.isCancelled { return CancellationError() }
                    guard s.transport != nil else {
                        return BackendError(.unavailable, "server '\(serverID)' is not connected yet")
                    }
                    let now = ContinuousClock.now
                    let limit = ceiling.map { now + $0 }
                    s.pending[id] = Pending(
                        waiter: c, method: method, timeout: timeout,
                        deadline: min(now + timeout, limit ?? now + timeout),
                        ceiling: limit, onProgress: onProgress)
                    return nil
                }
                if let refusal {
                    c.resume(throwing: refusal)
                    return
                }
                scheduleExpiry(of: id, after: min(timeout, ceiling ?? timeout))
                transport?.send(bytes, message: value) { [weak self] reason in
                    guard let self else { return }
                    self.finish(id, .failure(BackendError(.closed, "server '\(self.serverID)': \(reason)")))
                }
                let late = state.withLock { s -> String? in
                    s.pending[id]?.sent = true
                    return s.cancelAfterSend.removeValue(forKey: id)
                }
                if let late { cancelled(id, reason: late) }
            }
        } onCancel: {
            giveUp(id, CancellationError(), reason: "the client cancelled the request")
        }
    }

    /// Sends a notification (no reply expected); dropped when the session is closed.
    public func notify(method: String, params: JSONValue?) {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        send(.object(message))
    }

    /// Closes the transport; every waiting request fails.
    public func close() {
        closed("the connection was closed")
        transport?.close()
    }

    private var transport: (any BackendTransport)? { state.withLock { $0.transport } }

    /// A request's params with the session's `_meta` keys: a progress token of its own and the envelope (keys the
    /// request sets itself win). Params that are not an object pass as they are.
    static func stamped(
        _ params: JSONValue?, progressToken: JSONValue?, _ envelope: [String: JSONValue]
    ) -> JSONValue? {
        guard progressToken != nil || !envelope.isEmpty else { return params }
        guard params == nil || params?.objectValue != nil else { return params }
        var object = params?.objectValue ?? [:]
        var meta = object["_meta"]?.objectValue ?? [:]
        if let progressToken { meta["progressToken"] = progressToken }
        meta.merge(envelope) { own, _ in own }
        object["_meta"] = .object(meta)
        return .object(object)
    }

    private func send(_ message: JSONValue) {
        let transport = state.withLock { s -> (any BackendTransport)? in
            if s.transport == nil && s.closedReason == nil { s.unattached.append(message) }
            return s.transport
        }
        transport?.send(message.serialized, message: message) { _ in }
    }

    private func cancelled(_ id: Int64, reason: String) {
        notify(method: "notifications/cancelled", params: ["requestId": .int(id), "reason": .string(reason)])
    }

    /// Fails a pending request and tells the server, once the request has reached it (never for
    /// `initialize`, which the specification forbids cancelling).
    private func giveUp(_ id: Int64, _ error: any Error, reason: String) {
        let outcome = state.withLock { s -> (Pending, sent: Bool)? in
            guard let p = s.pending.removeValue(forKey: id) else { return nil }
            if !p.sent && p.method != "initialize" { s.cancelAfterSend[id] = reason }
            return (p, p.sent)
        }
        guard let (pending, sent) = outcome else { return }
        pending.waiter.resume(throwing: error)
        if sent && pending.method != "initialize" { cancelled(id, reason: reason) }
    }

    /// Resumes a pending request; false when it was no longer pending (answered, failed, timed out).
    @discardableResult
    private func finish(_ id: Int64, _ result: Result<RPCOutcome, any Error>) -> Bool {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return false }
        pending.waiter.resume(with: result)
        return true
    }

    /// Fails the request at its deadline, unless progress has moved the deadline on since.
    private func scheduleExpiry(of id: Int64, after delay: Duration) {
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0, delay.inSeconds)) { [weak self] in
            self?.expire(id)
        }
    }

    private func expire(_ id: Int64) {
        let now = ContinuousClock.now
        enum Step { case gone, later(Duration), expired(Pending) }
        let step = state.withLock { s -> Step in
            guard let p = s.pending[id] else { return .gone }
            if p.deadline > now { return .later(p.deadline - now) }
            if s.serverRequestsOut > 0, p.ceiling.map({ $0 > now }) ?? true {
                // Held: look again a timeout from now (the hold's end also restarts every deadline).
                return .later(min(p.timeout, p.ceiling.map { $0 - now } ?? p.timeout))
            }
            return .expired(p)
        }
        switch step {
        case .gone:
            return
        case .later(let delay):
            scheduleExpiry(of: id, after: delay)
        case .expired(let p):
            let message =
                p.ceiling.map { $0 <= now } == true
                ? "server '\(serverID)' did not finish \(p.method) within max_call_duration"
                : "server '\(serverID)' did not answer \(p.method) within \(p.timeout)"
            giveUp(id, BackendError(.timeout, message), reason: "timeout")
        }
    }

    // MARK: Incoming

    private func closed(_ reason: String) {
        let waiting = state.withLock { s -> [Pending] in
            if s.closedReason == nil { s.closedReason = reason }
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        for p in waiting {
            p.waiter.resume(throwing: BackendError(.closed, "server '\(serverID)' is gone: \(reason)"))
        }
    }

    /// A message over the size limit was skipped: fail the request it answers (its id is near the start of
    /// any JSON-RPC response a server writes) with what happened, and keep the connection.
    private func oversized(head: [UInt8], size: Int) {
        let limit = transport?.maxMessageBytes ?? size
        logger.warning(
            "server sent a message over the size limit; it was dropped",
            metadata: ["server.id": "\(serverID)", "bytes": "\(size)", "limit": "\(limit)"])
        guard let id = Self.responseID(in: head) else { return }
        finish(
            id,
            .failure(
                BackendError(
                    .protocolViolation,
                    "server '\(serverID)' answered with a message of \(size) bytes, over the gateway's limit of "
                        + "\(limit) bytes; ask for less (pagination, a smaller range)")))
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

    private func received(_ bytes: [UInt8]) {
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
        let message: JSONValue
        do {
            message = try JSONValue.parse(bytes)
        } catch {
            logger.warning(
                "server sent a message that is not JSON; MCP servers must log to stderr, not stdout",
                metadata: ["server.id": "\(serverID)", "error": "\(error)"])
            return
        }
        // A batch (older revisions allowed them) is handled message by message.
        if case .array(let items) = message {
            for item in items { handle(item) }
        } else {
            handle(message)
        }
    }

    private func handle(_ message: JSONValue) {
        let id = message["id"]
        if let method = message["method"]?.stringValue {
            guard let id, id != .null else {
                if method == "notifications/progress", progressed(message["params"]) { return }
                handlers.notification(message)
                return
            }
            let handler = handlers.request
            let params = message["params"]
            holdTimeouts(+1)
            let spawned = tasks.spawn { [weak self] in
                let outcome = await handler(method, params)
                self?.holdTimeouts(-1)
                self?.answer(id, outcome)
            }
            if !spawned {
                holdTimeouts(-1)
                answer(id, .error(["code": -32603, "message": "the hotswap gateway is shutting down"]))
            }
            return
        }
        guard let numeric = id?.intValue else { return }
        if let error = message["error"] {
            finish(numeric, .success(.error(error)))
        } else {
            finish(numeric, .success(.result(message["result"] ?? .null)))
        }
    }

    private func answer(_ id: JSONValue, _ outcome: RPCOutcome) {
        switch outcome {
        case .result(let result): send(["jsonrpc": "2.0", "id": id, "result": result])
        case .error(let error): send(["jsonrpc": "2.0", "id": id, "error": error])
        }
    }

    /// Counts the server's requests being answered; when the last is answered, every pending request's
    /// timeout starts again, as after progress.
    private func holdTimeouts(_ delta: Int) {
        state.withLock { s in
            s.serverRequestsOut += delta
            guard delta < 0, s.serverRequestsOut == 0 else { return }
            let now = ContinuousClock.now
            for (id, p) in s.pending {
                s.pending[id]?.deadline = max(p.deadline, p.ceiling.map { min(now + p.timeout, $0) } ?? now + p.timeout)
            }
        }
    }

    /// Progress for one of this session's requests: handed to its caller, and its timeout starts again.
    private func progressed(_ params: JSONValue?) -> Bool {
        guard let token = params?["progressToken"]?.intValue else { return false }
        let callback = state.withLock { s -> (@Sendable (JSONValue) -> Void)? in
            guard var p = s.pending[token], let callback = p.onProgress else { return nil }
            let next = ContinuousClock.now + p.timeout
            p.deadline = p.ceiling.map { min(next, $0) } ?? next
            s.pending[token] = p
            return callback
        }
        guard let callback else { return false }
        callback(params ?? .null)
        return true
    }
}
