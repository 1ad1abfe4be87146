import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import Logging
import Synchronization

/// The client side of the gateway: MCP over Streamable HTTP at `/mcp`, JSON replies.
///
/// Tools of every live server are merged and prefixed `<server id>__<tool>`; calls are routed by that prefix
/// to the live generation, each holding a lease on its backend so a reload never cuts it off.
public final class MCPEndpoint: Sendable {
    public static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26"]
    public static let separator = "__"

    private struct Session {
        var protocolVersion: String
        var created: ContinuousClock.Instant
        /// Where it came from (a client address, or the control socket), for the per-client cap.
        var client: String
        var lastUsed: ContinuousClock.Instant
        /// Whether any request followed `initialize`: a session that never did is the first to go.
        var used = false
        /// Requests being served now: such a session is never evicted.
        var inFlight = 0
        /// What the client announced at `initialize` (sampling, elicitation, roots).
        var capabilities: JSONValue = [:]
    }

    /// A server's request passed on to a client, waiting for the client's answer.
    private struct Ask {
        var session: String
        var waiter: CheckedContinuation<RPCOutcome, Never>
    }

    let registry: Registry
    let metrics: GatewayMetrics
    public let streams: SessionStreams
    let logger: Logger
    /// Resource URIs two servers list, already logged.
    let reportedConflicts = Mutex<Set<String>>([])
    private let sessions = Mutex<[String: Session]>([:])
    /// Seals session ids (and opens them): a session another gateway with the same key began is taken up here.
    let seal: SessionSeal
    /// Sessions ended here by `DELETE /mcp`, which must not be taken up again (the most recent, bounded).
    private let ended = Mutex<(set: Set<String>, order: [String])>(([], []))
    /// Client requests being served, by session and the client's request id (for `notifications/cancelled`).
    private let inflight = Mutex<[String: CallRun]>([:])
    /// 2026-07-28 requests being served, by their `requestState` token (for the client's retries).
    let stateless = Mutex<[String: CallRun]>([:])
    /// Servers' requests passed on to clients, by the id the gateway gave them.
    private let asks = Mutex<[Int64: Ask]>([:])
    private let nextAsk = Atomic<Int64>(0)
    /// At most this many sessions in all (default 10,000), and this many per client address (default 1,000).
    public let maxSessions: Int
    public let maxSessionsPerClient: Int
    /// A session used more recently than this is never ended to make room for another.
    static let evictableAfter: Duration = .seconds(60)

    public init(
        registry: Registry, metrics: GatewayMetrics, logger: Logger, streams: SessionStreams = SessionStreams(),
        maxSessions: Int = 10_000, maxSessionsPerClient: Int = 1_000, seal: SessionSeal = .random()
    ) {
        self.seal = seal
        self.registry = registry
        self.metrics = metrics
        self.streams = streams
        self.logger = logger
        self.maxSessions = max(1, maxSessions)
        self.maxSessionsPerClient = max(1, min(maxSessionsPerClient, maxSessions))
    }

    /// An HTTP answer: status, extra headers, and a JSON body (nil for 202/204), or an event stream: the
    /// messages of a call that sent the client something before its answer, then the answer.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)] = []
        public var body: JSONValue?
        /// The request's exchange, whichever way it was answered.
        public var call: CallExchange?
        /// The exchange when the answer is its event stream: a request answered with no JSON body.
        public var stream: CallExchange? { body == nil ? call : nil }
        /// A `subscriptions/listen` stream (2026-07-28).
        public var listen: ListenStream?
    }

    // MARK: HTTP verbs

    /// `POST /mcp`: one JSON-RPC message. `began` sees the exchange of a request before it is served (the HTTP
    /// side cancels it when the client's connection closes).
    public func post(
        body: [UInt8], sessionID: String?, protocolVersion: String?, headers: [String: String] = [:],
        client: String = "", began: @Sendable (CallExchange) -> Void = { _ in }
    ) async -> Reply {
        let message: JSONValue
        do {
            message = try JSONValue.parse(body)
        } catch {
            return Reply(status: 400, body: Self.error(id: .null, code: -32700, message: "parse error: \(error)"))
        }
        if case .array = message {
            return Reply(
                status: 400,
                body: Self.error(
                    id: .null, code: -32600, message: "JSON-RPC batches are not supported since 2025-06-18"))
        }
        guard case .object = message, message["jsonrpc"]?.stringValue == "2.0" else {
            return Reply(status: 400, body: Self.error(id: .null, code: -32600, message: "not a JSON-RPC 2.0 message"))
        }
        if Self.isStateless(message, protocolVersion: protocolVersion) {
            return await postStateless(message, protocolVersion: protocolVersion, headers: headers, began: began)
        }
        if let version = protocolVersion, !Self.supportedVersions.contains(version) {
            return Reply(status: 400, body: Self.unsupportedVersion(id: message["id"] ?? .null, requested: version))
        }
        let method = message["method"]?.stringValue
        let id = message["id"]

        if method == "initialize", let id {
            return initialize(id: id, params: message["params"], client: client)
        }
        // Every other message belongs to a session.
        guard let sessionID else {
            return Reply(
                status: 400,
                body: Self.error(
                    id: id ?? .null, code: -32600, message: "missing Mcp-Session-Id header; send initialize first"))
        }
        let known = sessions.withLock { all -> Bool in
            guard all[sessionID] != nil else { return false }
            all[sessionID]!.used = true
            all[sessionID]!.lastUsed = .now
            return true
        }
        guard known || takeUp(sessionID, client: client) else {
            return Reply(
                status: 404,
                body: Self.error(id: id ?? .null, code: -32600, message: "unknown or expired session; initialize again")
            )
        }
        guard let method else {
            // The client's answer to a server's request the gateway passed on.
            if let id = id?.intValue, message["result"] != nil || message["error"] != nil {
                let outcome: RPCOutcome =
                    message["error"].map { .error($0) } ?? .result(message["result"] ?? .null)
                answerAsk(id, outcome, session: sessionID)
            }
            return Reply(status: 202)
        }
        guard let id, id != .null else {
            // Notifications: initialized, cancelled, progress, roots/list_changed from the client.
            if method == "notifications/cancelled", let request = message["params"]?["requestId"] {
                inflight.withLock { $0[Self.callKey(sessionID, request)] }?.cancel()
            }
            return Reply(status: 202)
        }
        let params = message["params"]
        let exchange = CallExchange(requestID: id, params: params)
        let run = CallRun(endpoint: self, era: .session(sessionID), method: method, params: params, first: exchange)
        let key = Self.callKey(sessionID, id)
        inflight.withLock { $0[key] = run }
        sessions.withLock { $0[sessionID]?.inFlight += 1 }
        let started = start(run, method: method, params: params) {
            self.inflight.withLock { all in if all[key] === run { all[key] = nil } }
            self.sessions.withLock { $0[sessionID]?.inFlight -= 1 }
        }
        guard started else {
            return Reply(
                status: 503, body: Self.error(id: id, code: -32000, message: "the hotswap gateway is shutting down"))
        }
        return await answer(exchange, began: began)
    }

    /// Runs a request's work in the registry's supervisor (its answer may go on after the HTTP handler has
    /// returned, as an event stream); the client cancelling or going away cancels it. False when the gateway
    /// is shutting down (`cleanup` has run).
    func start(
        _ run: CallRun, method: String, params: JSONValue?, cleanup: @escaping @Sendable () -> Void,
        decorate: Bool = false
    ) -> Bool {
        // The work is one task; the client cancelling or going away cancels it (`CallRun.cancel`).
        let cancel = registry.backendTasks.spawnCancellable { [self] in
            let outcome = await self.dispatch(method: method, params: params, run: run)
            if run.isCancelled {
                run.finish(.error(["code": -32603, "message": "the request was cancelled"]))
            } else {
                run.finish(decorate ? Self.cacheHints(outcome) : outcome)
            }
            cleanup()
        }
        guard let cancel else {
            cleanup()
            return false
        }
        run.cancelsWork(cancel)
        return true
    }

    /// Waits for the first thing an exchange has for the client: the answer (plain JSON) or a message before it
    /// (an event stream).
    func answer(
        _ exchange: CallExchange, began: @Sendable (CallExchange) -> Void,
        status: (JSONValue) -> Int = {
            _ in 200
        }
    ) async -> Reply {
        began(exchange)
        let streaming: Bool
        do {
            streaming = try await exchange.streaming.value()
        } catch {
            exchange.cancel()
            return Reply(
                status: 503,
                body: Self.error(id: exchange.requestID, code: -32000, message: "the request was cancelled"),
                call: exchange)
        }
        if streaming { return Reply(status: 200, call: exchange) }
        let body = exchange.jsonReply ?? .null
        return Reply(status: status(body), body: body, call: exchange)
    }

    /// A JSON-RPC response for an outcome. For a 2026-07-28 client a result says `resultType: complete`, and
    /// "resource not found" is -32602 (-32002 is retired).
    static func response(id: JSONValue, _ outcome: RPCOutcome, stateless: Bool) -> JSONValue {
        switch outcome {
        case .result(var value):
            if stateless, var object = value.objectValue, object["resultType"] == nil {
                object["resultType"] = "complete"
                value = .object(object)
            }
            return ["jsonrpc": "2.0", "id": id, "result": value]
        case .error(var error):
            if stateless, error["code"] == -32002, var object = error.objectValue {
                object["code"] = -32602
                error = .object(object)
            }
            return ["jsonrpc": "2.0", "id": id, "error": error]
        }
    }

    /// A run is over: a 2026-07-28 client's retry can no longer find it; one that ended while waiting for the
    /// retry keeps its outcome for the retry for a minute.
    func runEnded(_ run: CallRun, parked: Bool) {
        guard run.isStateless else { return }
        guard parked else {
            stateless.withLock { _ = $0.removeValue(forKey: run.token) }
            return
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { [weak self] in
            self?.stateless.withLock { all in if all[run.token] === run { all[run.token] = nil } }
        }
    }

    static func callKey(_ session: String, _ id: JSONValue) -> String {
        session + " " + String(decoding: id.serialized, as: UTF8.self)
    }

    // MARK: Servers' requests to clients

    /// Whether a session's client announced what a server's request needs.
    func clientAccepts(session: String, method: String, params: JSONValue?) -> Bool {
        guard let capabilities = sessions.withLock({ $0[session]?.capabilities }) else { return false }
        return Self.accepts(capabilities, method: method, params: params)
    }

    /// Whether capabilities a client announced cover what a server's request needs.
    static func accepts(_ capabilities: JSONValue, method: String, params: JSONValue?) -> Bool {
        func has(_ key: String) -> Bool { capabilities[key].map { $0 != .null } ?? false }
        switch method {
        case "sampling/createMessage": return has("sampling")
        case "roots/list": return has("roots")
        case "elicitation/create":
            guard has("elicitation") else { return false }
            // `elicitation: {}` means form mode only (2025-11-25); URL mode must be announced.
            if params?["mode"]?.stringValue == "url" { return capabilities["elicitation"]?["url"] != nil }
            return true
        default: return false
        }
    }

    /// Passes a server's request on to a client, on its call's stream (`via`) or else its session's `GET`
    /// stream, with an id of the gateway's own, and waits for the client's answer (at most `timeout`).
    func ask(
        session: String, method: String, params: JSONValue?, timeout: Duration, via exchange: CallExchange?
    ) async -> RPCOutcome {
        await ask(session: session, method: method, timeout: timeout) { id in
            var object: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
            if let params { object["params"] = params }
            let message = JSONValue.object(object)
            return (exchange.map { !$0.isCancelled && $0.emit(message) } ?? false)
                || self.streams.send(message, to: session)
        }
    }

    /// A server's request to a 2026-07-28 client: the call is answered `input_required` and the client's
    /// retry brings the answer.
    func ask(run: CallRun, method: String, params: JSONValue?, timeout: Duration) async -> RPCOutcome {
        await ask(
            session: run.token, method: method, timeout: timeout,
            deliver: { id in
                run.park(ask: id, method: method, params: params)
                return true
            }, finished: { id in run.forget(ask: id) })
    }

    /// Registers a server's request under an id of the gateway's own, hands it to `deliver` (false: nobody to
    /// deliver it to), and waits for the client's answer, at most `timeout`.
    private func ask(
        session: String, method: String, timeout: Duration, deliver: @escaping @Sendable (Int64) -> Bool,
        finished: @Sendable (Int64) -> Void = { _ in }
    ) async -> RPCOutcome {
        let id = nextAsk.add(1, ordering: .relaxed).newValue
        defer { finished(id) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<RPCOutcome, Never>) in
                let registered = asks.withLock { a -> Bool in
                    guard !Task.isCancelled else { return false }
                    a[id] = Ask(session: session, waiter: c)
                    return true
                }
                guard registered else {
                    c.resume(returning: .error(["code": -32603, "message": "the request was cancelled"]))
                    return
                }
                let delivered = deliver(id)
                guard delivered else {
                    answerAsk(
                        id,
                        .error([
                            "code": -32603,
                            "message": .string(
                                "the client has no call in flight and no open GET /mcp stream to receive \(method)"),
                        ]))
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout.inSeconds) { [weak self] in
                    self?.answerAsk(
                        id,
                        .error([
                            "code": -32001, "message": .string("the client did not answer \(method) within \(timeout)"),
                        ]))
                }
            }
        } onCancel: {
            answerAsk(id, .error(["code": -32603, "message": "the request was cancelled"]))
        }
    }

    /// Resumes a server's request with the client's answer; a session given must be the one asked.
    @discardableResult
    func answerAsk(_ id: Int64, _ outcome: RPCOutcome, session: String? = nil) -> Bool {
        let ask = asks.withLock { a -> Ask? in
            guard let ask = a[id], session == nil || ask.session == session else { return nil }
            return a.removeValue(forKey: id)
        }
        guard let ask else { return false }
        ask.waiter.resume(returning: outcome)
        return true
    }

    /// Ends what a session has under way: its calls are cancelled, servers' requests to it fail.
    private func endWork(of session: String) {
        let prefix = session + " "
        let calls = inflight.withLock { all in all.filter { $0.key.hasPrefix(prefix) }.map(\.value) }
        for call in calls { call.cancel() }
        let ids = asks.withLock { a in a.filter { $0.value.session == session }.map(\.key) }
        for id in ids { answerAsk(id, .error(["code": -32603, "message": "the client's session ended"])) }
    }

    /// `DELETE /mcp`: ends a session.
    public func delete(sessionID: String?) -> Reply {
        guard let sessionID,
            sessions.withLock({ $0.removeValue(forKey: sessionID) }) != nil || seal.open(sessionID) != nil
        else {
            return Reply(status: 404, body: Self.error(id: .null, code: -32600, message: "unknown session"))
        }
        ended.withLock { e in
            guard e.set.insert(sessionID).inserted else { return }
            e.order.append(sessionID)
            if e.order.count > maxSessions { e.set.remove(e.order.removeFirst()) }
        }
        streams.close(session: sessionID)
        endWork(of: sessionID)
        // The owning servers stay subscribed until they stop (a shared backend has no per-session unsubscribe
        // to replay here); the session's updates simply go nowhere now.
        _ = streams.dropSubscriptions(of: sessionID)
        return Reply(status: 200)
    }

    public var sessionCount: Int { sessions.withLock { $0.count } }

    /// Whether a session id is live (for `GET /mcp`), taking up one another gateway began.
    public func hasSession(_ id: String, client: String) -> Bool {
        sessions.withLock { $0[id] != nil } || takeUp(id, client: client)
    }

    /// A session this gateway does not hold, whose id it can open (another replica began it, or this gateway
    /// before a restart): admitted here as if it had just been initialized, with the version and capabilities
    /// it carries. False for any other id, one deleted here, or when the session limits leave no room.
    func takeUp(_ id: String, client: String) -> Bool {
        guard let (version, capabilities) = seal.open(id), Self.supportedVersions.contains(version),
            !ended.withLock({ $0.set.contains(id) })
        else { return false }
        guard admit(id, version: version, capabilities: capabilities, client: client, used: true) else { return false }
        logger.debug("took up a session another gateway began", metadata: ["session": "\(id.suffix(12))"])
        return true
    }

    // MARK: Methods

    private func initialize(id: JSONValue, params: JSONValue?, client: String) -> Reply {
        let requested = params?["protocolVersion"]?.stringValue ?? Self.supportedVersions[0]
        let version = Self.supportedVersions.contains(requested) ? requested : Self.supportedVersions[0]
        let announced = params?["capabilities"] ?? [:]
        let sessionID = seal.seal(version: version, capabilities: announced)
        let admitted = admit(sessionID, version: version, capabilities: announced, client: client, used: false)
        guard admitted else {
            return Reply(
                status: 503, headers: [("Retry-After", "1")],
                body: Self.error(
                    id: id, code: -32000,
                    message: "the gateway's MCP sessions are all in use; end one (DELETE /mcp) or try again later"))
        }
        let result: JSONValue = [
            "protocolVersion": .string(version),
            "capabilities": capabilities(),
            "serverInfo": ["name": "hotswap", "version": "0.1.0"],
            "instructions": "Tools and prompts of every server in the gateway's catalog, named <server>__<name>.",
        ]
        return Reply(
            status: 200, headers: [("Mcp-Session-Id", sessionID)], body: ["jsonrpc": "2.0", "id": id, "result": result])
    }

    /// Makes room for a session within the limits and records it; false when there is none.
    private func admit(
        _ sessionID: String, version: String, capabilities: JSONValue, client: String, used: Bool
    ) -> Bool {
        var evicted: String?
        let admitted = sessions.withLock { s -> Bool in
            // Two requests taking up the same session at once: the first one's record stays.
            guard s[sessionID] == nil else { return true }
            let now = ContinuousClock.now
            let mine = s.values.reduce(0) { $0 + ($1.client == client ? 1 : 0) }
            if mine >= maxSessionsPerClient || s.count >= maxSessions {
                // Make room within this client's own sessions when it is at its cap, else among all; never a
                // session with a call in flight or used in the last `evictableAfter`; the ones never used after
                // `initialize` first, then the least recently used. A flood of sessions pushes out only itself,
                // and once its own are in use it gets 503, not anyone else's session.
                let ownOnly = mine >= maxSessionsPerClient
                let idleSince = now - Self.evictableAfter
                var victim: (key: String, used: Bool, lastUsed: ContinuousClock.Instant)?
                for (key, session) in s
                where session.inFlight == 0 && (!ownOnly || session.client == client)
                    && (!session.used || session.lastUsed < idleSince)
                {
                    if let v = victim, (v.used ? 1 : 0, v.lastUsed) <= (session.used ? 1 : 0, session.lastUsed) {
                        continue
                    }
                    victim = (key, session.used, session.lastUsed)
                }
                guard let victim else { return false }
                s.removeValue(forKey: victim.key)
                streams.close(session: victim.key)
                evicted = victim.key
                _ = streams.dropSubscriptions(of: victim.key)
            }
            s[sessionID] = Session(
                protocolVersion: version, created: now, client: client, lastUsed: now, used: used,
                capabilities: capabilities)
            return true
        }
        if let evicted { endWork(of: evicted) }
        return admitted
    }

    func dispatch(method: String, params: JSONValue?, run: CallRun) async -> RPCOutcome {
        switch method {
        case "ping":
            return .result([:])
        case "tools/list":
            return .result(["tools": .array(await listTools())])
        case "tools/call":
            return await callTool(params, run)
        case "prompts/list":
            return .result(await listPrompts())
        case "prompts/get":
            return await getPrompt(params, run)
        case "resources/list":
            return .result(await listResources())
        case "resources/templates/list":
            return .result(await listResourceTemplates())
        case "resources/read", "resources/subscribe", "resources/unsubscribe":
            return await resourceRequest(method, params, run)
        case "completion/complete":
            return await complete(params, run)
        case "logging/setLevel":
            return await setLogLevel(params)
        default:
            return .error(["code": -32601, "message": "method '\(method)' is not supported by the hotswap gateway"])
        }
    }

    /// How long `tools/list` waits for servers that are still starting before it answers with the ones that
    /// are ready: one stuck or slow server (a first `uvx` download) must not hold every client's list.
    public static let listWait: Duration = .milliseconds(800)

    /// Every live server's tools, prefixed, in catalog order. Servers that have never run are started to learn
    /// their tools; the list waits for them at most `listWait`, then answers with what is ready while the
    /// others go on starting; when one of those arrives, clients get `notifications/tools/list_changed`.
    /// A server that fails to start is left out and shows its reason in `/servers` and the log.
    public func listTools() async -> [JSONValue] {
        guard let generation = registry.live else { return [] }
        let starting = generation.backends.filter { $0.tools == nil }
        if !starting.isEmpty { await waitForStarts(starting, within: Self.listWait) }
        var tools: [JSONValue] = []
        for backend in generation.backends {
            let prefix = backend.id + Self.separator
            for tool in backend.tools ?? [] {
                guard var object = tool.objectValue, let name = object["name"]?.stringValue else { continue }
                object["name"] = .string(prefix + name)
                tools.append(.object(object))
            }
        }
        return tools
    }

    /// Starts `backends` and returns when all have started (or failed) or `within` has passed, whichever is
    /// first. Starts outlive the wait (each is bounded by its `start_timeout`); one that succeeds after the wait
    /// has answered announces its tools with `list_changed`.
    func waitForStarts(_ backends: [Backend], within: Duration) async {
        let logger = self.logger
        let streams = self.streams
        let tally = StartTally(count: backends.count)
        _ = await waitForEvent(within: within) { allStarted in
            for backend in backends {
                backend.startInBackground { error in
                    if let error {
                        logger.warning(
                            "tools/list: server left out",
                            metadata: ["server.id": "\(backend.id)", "error": "\(error)"])
                    }
                    let (last, late) = tally.finished()
                    if last { allStarted() }
                    if late && error == nil { for kind in ListKind.allCases { streams.listChanged(kind) } }
                }
            }
        }
        // From here on a start that finishes was not in this answer: its tools come with list_changed.
        tally.answered()
    }

    private func callTool(_ params: JSONValue?, _ run: CallRun) async -> RPCOutcome {
        guard var object = params?.objectValue, let name = object["name"]?.stringValue else {
            return .error(["code": -32602, "message": "tools/call needs params.name"])
        }
        guard let range = name.range(of: Self.separator) else {
            return .error([
                "code": -32602, "message": "unknown tool '\(name)': gateway tools are named <server>__<tool>",
            ])
        }
        let serverID = String(name[..<range.lowerBound])
        let tool = String(name[range.upperBound...])
        guard let backend = registry.lease(serverID) else {
            let generation = registry.live?.number ?? 0
            // Labelled only with servers of the live catalog: a made-up name must not create a metric series.
            metrics.requests.increment(labels: ["server": "", "outcome": "unknown"])
            return .error([
                "code": -32602,
                "message":
                    "unknown tool '\(name)': server '\(serverID)' is not in the live catalog (generation \(generation))",
            ])
        }
        defer { backend.release() }
        if let tools = backend.tools, !tools.contains(where: { $0["name"]?.stringValue == tool }) {
            metrics.requests.increment(labels: ["server": serverID, "outcome": "unknown"])
            return .error([
                "code": -32602, "message": "unknown tool '\(name)': server '\(serverID)' has no tool '\(tool)'",
            ])
        }
        if !backend.definition.tools.permits(tool) {
            return .error(["code": -32602, "message": "tool '\(name)' is not allowed by the catalog's tools filter"])
        }
        object["name"] = .string(tool)
        do {
            let outcome = try await backend.call(method: "tools/call", params: .object(object), caller: run)
            metrics.requests.increment(labels: ["server": serverID, "outcome": outcome.isError ? "error" : "ok"])
            return outcome
        } catch let error as BackendError {
            let outcome = error.kind == .timeout ? "timeout" : "unavailable"
            metrics.requests.increment(labels: ["server": serverID, "outcome": outcome])
            // Not -32002: that is "resource not found" (and 2026-07-28 retired it); a server down is internal.
            return .error(["code": error.kind == .timeout ? -32001 : -32603, "message": .string(error.message)])
        } catch {
            metrics.requests.increment(labels: ["server": serverID, "outcome": "unavailable"])
            return .error(["code": -32603, "message": "\(error)"])
        }
    }

    static func error(id: JSONValue, code: Int64, message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(code), "message": .string(message)]]
    }
}

/// Counts the starts one `tools/list` waits for, and whether its answer has gone (after which a start is late).
private final class StartTally: Sendable {
    private let state: Mutex<(left: Int, answered: Bool)>

    init(count: Int) { state = Mutex((count, false)) }

    /// One start ended: whether it was the last, and whether the answer had already gone.
    func finished() -> (last: Bool, late: Bool) {
        state.withLock { s in
            s.left -= 1
            return (s.left == 0, s.answered)
        }
    }

    func answered() { state.withLock { $0.answered = true } }
}

extension RPCOutcome {
    var isError: Bool {
        switch self {
        case .error: return true
        case .result(let r): return r["isError"]?.boolValue ?? false
        }
    }
}
