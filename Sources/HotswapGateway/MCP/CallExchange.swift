import HotswapCore
import HotswapRuntime
import Synchronization

/// Which protocol era a client request belongs to, and what that means for it.
enum ClientEra: Sendable {
    /// 2025-03-26 to 2025-11-25: a session from `initialize`, whose capabilities the gateway remembers; a
    /// server's requests go to the client as JSON-RPC requests.
    case session(String)
    /// 2026-07-28: no session; each request carries its capabilities and log level; a server's requests
    /// come back as an `input_required` result the client answers by retrying (multi round-trip requests).
    case stateless(capabilities: JSONValue, logLevel: String?)
}

/// One client request while the gateway serves it: the work, and the HTTP exchange that carries its messages
/// to the client (progress, log messages, a server's requests) and then its answer. A 2026-07-28 request whose
/// server asks the client something is answered with `input_required`; the client's retry is a new exchange
/// of the same run, which goes on where it stopped.
public final class CallRun: CallerLink, Sendable {
    let era: ClientEra
    /// Only `tools/call`, `prompts/get` and `resources/read` may be answered `input_required` (2026-07-28).
    let allowsInput: Bool
    public let progressToken: JSONValue?
    public let session: any ClientRequester
    /// Who the client is: its session, or for a 2026-07-28 request a random name of its own, which is also the
    /// `requestState` that names the run while it waits for the client's answers. (Only stateless runs pay for
    /// the random bytes: calls are the hot path.)
    public let client: String

    /// A server's request waiting for a 2026-07-28 client's retry.
    struct Outstanding: Sendable {
        var ask: Int64
        var request: JSONValue
    }

    private struct State {
        /// The exchange the next message goes to: nil between an `input_required` answer and the retry.
        var current: CallExchange?
        var outstanding: [String: Outstanding] = [:]
        var nextKey = 0
        /// The outcome, when the work ended while no exchange was open (a retry that comes late gets it).
        var done: RPCOutcome?
    }

    private let state: Mutex<State>
    private let cancelledFlag = Atomic<Bool>(false)
    /// Cancels the task doing the work, once it has one.
    private let cancelWork = Mutex<(@Sendable () -> Void)?>(nil)
    // Strong: a run lives as long as its call (a weak reference would give the endpoint a side table that
    // LeakSanitizer cannot see through).
    private let endpoint: MCPEndpoint?

    init(endpoint: MCPEndpoint, era: ClientEra, method: String, params: JSONValue?, first: CallExchange) {
        self.endpoint = endpoint
        self.era = era
        self.allowsInput = ["tools/call", "prompts/get", "resources/read"].contains(method)
        self.progressToken = params?["_meta"]?["progressToken"]
        switch era {
        case .session(let id):
            self.session = SessionLink(endpoint: endpoint, session: id)
            self.client = id
        case .stateless:
            self.session = NoSession()
            self.client = hexString((0..<16).map { _ in UInt8.random(in: 0...255) })
        }
        self.state = Mutex(State(current: first))
        first.run = self
    }

    var isCancelled: Bool { cancelledFlag.load(ordering: .relaxed) }

    /// The name a 2026-07-28 client's retry gives the run (`requestState`).
    var token: String { client }

    var isStateless: Bool {
        if case .stateless = era { return true }
        return false
    }

    /// The client cancelled the request or went away: the work behind it is cancelled.
    func cancel() {
        cancelledFlag.store(true, ordering: .relaxed)
        cancelWork.withLock { $0 }?()
    }

    /// `cancel` cancels the work's task from now on (at once, when the run was cancelled already).
    func cancelsWork(_ cancel: @escaping @Sendable () -> Void) {
        cancelWork.withLock { $0 = cancel }
        if isCancelled { cancel() }
    }

    /// The work's outcome, to the exchange open now (the latest retry's, for a 2026-07-28 client).
    func finish(_ outcome: RPCOutcome) {
        let current = state.withLock { s -> CallExchange? in
            defer { s.current = nil }
            if s.current == nil { s.done = outcome }
            return s.current
        }
        // A run that ended while waiting for the client's retry keeps its outcome for that retry a while.
        endpoint?.runEnded(self, parked: current == nil && isStateless)
        guard let current else { return }
        let dropped = current.dropped.load(ordering: .relaxed)
        if dropped > 0 {
            endpoint?.logger.warning(
                "a client read its call's event stream too slowly: \(dropped) notifications were dropped",
                metadata: ["request": "\(current.requestID)", "buffered": "\(CallExchange.bufferLimit)"])
        }
        current.finish(MCPEndpoint.response(id: current.requestID, outcome, stateless: isStateless))
    }

    private var current: CallExchange? { state.withLock { $0.current } }

    // MARK: CallerLink

    public func progress(_ params: JSONValue) {
        // Each round of a 2026-07-28 request has its own token (the SDKs use the request's id).
        guard let current, let token = current.progressToken ?? progressToken, var object = params.objectValue
        else { return }
        object["progressToken"] = token
        current.emit(["jsonrpc": "2.0", "method": "notifications/progress", "params": .object(object)])
    }

    public func accepts(_ method: String, _ params: JSONValue?) -> Bool {
        switch era {
        case .session(let id):
            return endpoint?.clientAccepts(session: id, method: method, params: params) ?? false
        case .stateless(let capabilities, _):
            // Capabilities come with each request: the latest round's count.
            return allowsInput
                && MCPEndpoint.accepts(current?.capabilities ?? capabilities, method: method, params: params)
        }
    }

    public func request(_ method: String, _ params: JSONValue?, timeout: Duration) async -> RPCOutcome {
        guard let endpoint else { return .error(["code": -32603, "message": "the gateway is shutting down"]) }
        switch era {
        case .session(let id):
            return await endpoint.ask(session: id, method: method, params: params, timeout: timeout, via: current)
        case .stateless:
            return await endpoint.ask(run: self, method: method, params: params, timeout: timeout)
        }
    }

    public func logLevel(sessionLevel: String) -> String? {
        guard case .stateless(_, let first) = era else { return sessionLevel }
        return current?.logLevel ?? first
    }

    public func relay(_ message: JSONValue, from server: String) {
        if case .stateless(_, let first) = era {
            // 2026-07-28: log messages only for a request that asked for them, at or above its level.
            guard let level = current.map({ $0.logLevel }) ?? first,
                Self.severity(message["params"]?["level"]?.stringValue) >= Self.severity(level)
            else {
                return
            }
        }
        current?.emit(SessionStreams.attributed(message, to: server))
    }

    static let levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
    static func severity(_ level: String?) -> Int { level.flatMap { levels.firstIndex(of: $0) } ?? 0 }

    // MARK: Multi round-trip (2026-07-28)

    /// Adds a server's request for the client; when an exchange is open, it is answered `input_required` with
    /// everything outstanding now.
    func park(ask: Int64, method: String, params: JSONValue?) {
        let open = state.withLock { s -> (CallExchange, [String: Outstanding])? in
            s.nextKey += 1
            var request: [String: JSONValue] = ["method": .string(method)]
            if let params { request["params"] = params }
            s.outstanding["hotswap-\(s.nextKey)"] = Outstanding(ask: ask, request: .object(request))
            guard let current = s.current else { return nil }
            s.current = nil
            return (current, s.outstanding)
        }
        if let (exchange, outstanding) = open { inputRequired(exchange, outstanding) }
    }

    /// The client's retry: its answers go to the servers that asked; a request still unanswered (or asked
    /// meanwhile) is asked again at once. Returns the asks answered.
    func resume(with exchange: CallExchange, responses: [String: JSONValue]) -> [(Int64, JSONValue)] {
        exchange.run = self
        let (answered, still, done) = state.withLock {
            s -> ([(Int64, JSONValue)], [String: Outstanding], RPCOutcome?) in
            if s.current != nil {
                // A second retry while one is being served (a resend): only one can carry the run on.
                return ([], [:], .error(["code": -32602, "message": "this requestState is already being retried"]))
            }
            var answered: [(Int64, JSONValue)] = []
            for (key, response) in responses {
                if let o = s.outstanding.removeValue(forKey: key) { answered.append((o.ask, response)) }
            }
            if let done = s.done { return (answered, [:], done) }
            if s.outstanding.isEmpty { s.current = exchange }
            // Something still unanswered is asked again on this exchange.
            return (answered, s.outstanding, nil)
        }
        if let done {
            exchange.finish(MCPEndpoint.response(id: exchange.requestID, done, stateless: true))
        } else if !still.isEmpty {
            inputRequired(exchange, still)
        }
        return answered
    }

    /// A server's request the client never answered (timeout, cancel) is no longer outstanding.
    func forget(ask: Int64) {
        state.withLock { s in s.outstanding = s.outstanding.filter { $0.value.ask != ask } }
    }

    private func inputRequired(_ exchange: CallExchange, _ outstanding: [String: Outstanding]) {
        let result: JSONValue = [
            "resultType": "input_required", "inputRequests": .object(outstanding.mapValues(\.request)),
            "requestState": .string(token),
        ]
        exchange.finish(["jsonrpc": "2.0", "id": exchange.requestID, "result": result])
    }
}

/// One HTTP request and its answer: plain JSON when the answer comes first, an event stream of everything the
/// client gets before it otherwise.
///
/// What waits for a slow reader is bounded (`bufferLimit` messages): past it, progress and log messages are
/// dropped (a later one says more than an old one), a server's request is refused at once (its `ask` fails
/// instead of waiting for a client that cannot hear it), and the reply always gets through.
public final class CallExchange: Sendable {
    enum Event: Sendable {
        case message(JSONValue)
        case reply
    }

    static let bufferLimit = 1024

    let requestID: JSONValue
    /// What this request said about itself (2026-07-28 says it again on every round).
    let progressToken: JSONValue?
    let logLevel: String?
    let capabilities: JSONValue?
    private let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    /// True once a message went out before the reply (the answer must be a stream), false when the reply came
    /// first (plain JSON).
    let streaming = SharedOutcome<Bool>()
    private let reply = Mutex<JSONValue?>(nil)
    private let runBox = Mutex<CallRun?>(nil)
    /// Notifications dropped because the client did not read them in time.
    let dropped = Atomic<Int>(0)

    init(requestID: JSONValue, params: JSONValue? = nil) {
        self.requestID = requestID
        let meta = params?["_meta"]
        self.progressToken = meta?["progressToken"]
        self.logLevel = meta?[MCPEndpoint.metaLogLevel]?.stringValue
        self.capabilities = meta?[MCPEndpoint.metaCapabilities]
        (events, continuation) = AsyncStream.makeStream(
            of: Event.self, bufferingPolicy: .bufferingOldest(Self.bufferLimit))
    }

    /// The work this exchange carries (set once the run exists).
    var run: CallRun? {
        get { runBox.withLock { $0 } }
        set { runBox.withLock { $0 = newValue } }
    }

    /// The reply, once `streaming` came out false.
    var jsonReply: JSONValue? { reply.withLock { $0 } }

    var isCancelled: Bool { run?.isCancelled ?? false }

    /// The client went away or cancelled. Once this exchange has its reply it carries nothing (a 2026-07-28
    /// client closing the stream that brought `input_required` does not cancel the run waiting for its retry).
    func cancel() {
        guard reply.withLock({ $0 == nil }) else { return }
        run?.cancel()
    }

    /// Everything for the client, in order, ending with the reply (which waits in `reply`, so a full buffer
    /// cannot lose it).
    public func forEachMessage(_ body: (JSONValue) async throws -> Void) async rethrows {
        for await event in events {
            guard case .message(let message) = event else { break }
            try await body(message)
        }
        if let message = jsonReply { try await body(message) }
    }

    /// Sends a message ahead of the reply; false once the exchange has ended, or when the client has not read
    /// `bufferLimit` messages yet.
    @discardableResult
    func emit(_ message: JSONValue) -> Bool {
        streaming.complete(.success(true))
        switch continuation.yield(.message(message)) {
        case .enqueued: return true
        case .terminated: return false
        case .dropped:
            dropped.add(1, ordering: .relaxed)
            return false
        @unknown default: return false
        }
    }

    func finish(_ message: JSONValue) {
        reply.withLock { $0 = message }
        streaming.complete(.success(false))
        continuation.yield(.reply)
        continuation.finish()
    }
}

/// A client session as a backend sees it outside any call: its `GET /mcp` stream.
struct SessionLink: ClientRequester {
    let endpoint: MCPEndpoint?
    let session: String

    func accepts(_ method: String, _ params: JSONValue?) -> Bool {
        endpoint?.clientAccepts(session: session, method: method, params: params) ?? false
    }

    func request(_ method: String, _ params: JSONValue?, timeout: Duration) async -> RPCOutcome {
        guard let endpoint else { return .error(["code": -32603, "message": "the gateway is shutting down"]) }
        return await endpoint.ask(session: session, method: method, params: params, timeout: timeout, via: nil)
    }

    func relay(_ message: JSONValue, from server: String) {
        endpoint?.streams.send(SessionStreams.attributed(message, to: server), to: session)
    }
}

/// A 2026-07-28 client outside its requests: there is nothing to reach it by.
struct NoSession: ClientRequester {
    func accepts(_ method: String, _ params: JSONValue?) -> Bool { false }

    func request(_ method: String, _ params: JSONValue?, timeout: Duration) async -> RPCOutcome {
        .error(["code": -32603, "message": "a stateless (2026-07-28) client can be asked only during its own request"])
    }

    func relay(_ message: JSONValue, from server: String) {}
}
