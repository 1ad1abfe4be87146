import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import Synchronization

/// The protocol revision the gateway asks its backends for.
let backendProtocolVersion = "2025-11-25"

/// One running (or runnable) instance of a catalog server.
///
/// A `Backend` belongs to the generations that share its definition: an unchanged server carries the same
/// instance, process and pid into the next generation. In-flight calls hold leases; a retired backend takes
/// no new leases and stops once its leases are back (or its drain timeout passes).
public final class Backend: Sendable {
    public let definition: ServerDefinition
    public var id: String { definition.id }
    /// Distinguishes instances of one server id across reloads in logs and metrics.
    public let instance: Int

    let baseEnvironment: [String: String]
    let launcher: any BackendLauncher
    let logger: Logger
    let stopGrace: Duration
    let events: BackendEvents
    /// Owns every task the backend needs beyond its callers' (starts, restart timers, tool refreshes, the
    /// server's requests): the registry's, run in the registry service's task group.
    let tasks: TaskSupervisor
    let slots: ConcurrencyLimit
    let state: Mutex<State>

    struct State {
        /// Every lifecycle rule; the fields below are the resources it governs.
        var machine = BackendStateMachine()
        /// What runs behind the transport (the process), while started.
        var link: (any BackendLink)?
        var session: RPCSession?
        /// The start in progress, which every caller that arrives meanwhile joins.
        var starting: SharedOutcome<Void>?
        /// Warming beside live traffic: the process starts at a lower priority (`WarmPriority`).
        var warmingBehind = false
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var offerings: Offerings?
        var lastUsed = ContinuousClock.now
        /// Client requests being served, by arrival: the latest is the one a server's request goes to.
        var callers: [Int: any CallerLink] = [:]
        var nextCaller = 0
        /// The session of the latest caller, for a server's requests made outside any call.
        var lastSession: (any ClientRequester)?
        /// A 2026-07-28 server: its open listen stream (completed to close it), the resources clients
        /// subscribed to on it, and the log level set with `logging/setLevel`.
        var listening: SharedOutcome<Void>?
        var subscribedURIs: Set<String> = []
        var modernLogLevel: String?

        /// Whose calls are in flight. A stdio server's request or log message does not say which call it
        /// belongs to: with calls of one client in flight it is that client's (the latest call carries it);
        /// with calls of several it could be anyone's.
        var inFlightClient: InFlightClient {
            guard let latest = callers.max(by: { $0.key < $1.key })?.value else { return .none }
            let client = latest.client
            return callers.values.allSatisfy { $0.client == client } ? .one(latest) : .several
        }
    }

    enum InFlightClient {
        case none
        case one(any CallerLink)
        case several
    }

    static let counter = Atomic<Int>(0)

    public init(
        definition: ServerDefinition, environment: [String: String], launcher: any BackendLauncher, logger: Logger,
        tasks: TaskSupervisor, stopGrace: Duration = .seconds(5), events: BackendEvents = BackendEvents()
    ) {
        self.definition = definition
        self.baseEnvironment = environment
        self.launcher = launcher
        self.tasks = tasks
        self.slots = ConcurrencyLimit(definition.maxConcurrency)
        self.stopGrace = stopGrace
        self.events = events
        self.instance = Self.counter.add(1, ordering: .relaxed).newValue
        var logger = logger
        logger[metadataKey: "server.id"] = "\(definition.id)"
        self.logger = logger
        self.state = Mutex(State())
    }

    // MARK: Status

    /// A snapshot for `GET /servers`.
    public struct Status: Sendable {
        public var state: BackendState
        public var inFlight: Int
        public var pid: Int32?
        public var restarts: Int
        public var tools: [String]
        public var lastError: String?
    }

    public var status: Status {
        state.withLock { s in
            Status(
                state: s.machine.phase, inFlight: s.inFlight, pid: s.link?.pid, restarts: s.machine.restarts,
                tools: (s.offerings?.tools ?? []).compactMap { $0["name"]?.stringValue }, lastError: s.machine.lastError
            )
        }
    }

    /// This backend as `GET /servers` shows it.
    public func report(generation: Int) -> ServerReport {
        let s = status
        return ServerReport(
            id: id, state: s.state, generation: generation, inFlight: s.inFlight, pid: s.pid, restarts: s.restarts,
            tools: s.tools, runtime: definition.runtime.typeName, instance: instance, lastError: s.lastError,
            protocolVersion: offerings.flatMap { $0.protocolVersion.isEmpty ? nil : $0.protocolVersion })
    }

    public var pid: Int32? { state.withLock { $0.link?.pid } }

    /// A server reached over HTTP: no process, and its health is whether it answers.
    var isRemote: Bool {
        if case .remote = definition.runtime { return true }
        return false
    }
    public var phase: BackendState { state.withLock { $0.machine.phase } }
    public var inFlight: Int { state.withLock { $0.inFlight } }
    public var isRunning: Bool { state.withLock { $0.machine.phase == .ready || $0.machine.phase == .starting } }

    /// The tools the server listed when it last started (filtered by the catalog's allow/deny), or nil when
    /// it has never started.
    public var tools: [JSONValue]? { state.withLock { $0.offerings?.tools } }

    // MARK: Leases

    /// Takes an in-flight lease, or nil when the backend is retired or stopped by an operator. Taken inside the
    /// registry's critical section, so a swap never races a lease.
    public func acquire() -> Bool {
        state.withLock { s in
            guard s.machine.acceptsCalls else { return false }
            s.inFlight += 1
            s.lastUsed = .now
            return true
        }
    }

    /// Returns a lease taken by `acquire()`.
    public func release() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.inFlight -= 1
            s.lastUsed = .now
            guard s.inFlight == 0 else { return [] }
            defer { s.drainWaiters = [] }
            return s.drainWaiters
        }
        for w in waiters { w.resume() }
    }

    // MARK: Calls

    /// Sends a request to the server, starting it first if it is cold. The caller holds a lease.
    /// The caller's task being cancelled (its client went away) cancels the call: it leaves the queue for a slot,
    /// or the server is told with `notifications/cancelled`; either way the slot is free at once.
    /// With `caller`, the server's progress for the call goes to that client with its own token, and the
    /// server's requests made during the call go to it.
    public func call(method: String, params: JSONValue?, caller: (any CallerLink)? = nil) async throws -> RPCOutcome {
        try await ensureStarted()
        try await slots.acquire()
        defer { slots.release() }
        guard
            let (session, modern, sessionLevel) = state.withLock({ s in
                s.session.map { ($0, s.offerings?.isModern == true, s.modernLogLevel ?? "debug") }
            })
        else {
            throw BackendError(.unavailable, "server '\(id)' stopped before the call could be sent")
        }
        if modern, method == "resources/subscribe" || method == "resources/unsubscribe" {
            return resubscribe(method, params)
        }
        var key: Int?
        if let caller {
            key = state.withLock { s in
                s.nextCaller += 1
                s.callers[s.nextCaller] = caller
                s.lastSession = caller.session
                return s.nextCaller
            }
        }
        defer { if let key { state.withLock { _ = $0.callers.removeValue(forKey: key) } } }
        var onProgress: (@Sendable (JSONValue) -> Void)?
        if let caller, caller.progressToken != nil {
            onProgress = { progress in caller.progress(progress) }
        }
        let ceiling = definition.maxCallDuration.milliseconds > 0 ? definition.maxCallDuration.duration : nil
        var sent = onProgress == nil ? Self.withoutProgressToken(params) : params
        if modern, let level = caller?.logLevel(sessionLevel: sessionLevel) {
            sent = Self.with(meta: MCPEndpoint.metaLogLevel, .string(level), in: sent)
        }
        var outcome = try await session.request(
            method: method, params: sent, timeout: definition.requestTimeout.duration, ceiling: ceiling,
            onProgress: onProgress)
        if modern {
            outcome = try await resolvingInputs(outcome, params: sent, caller: caller) { retried in
                try await session.request(
                    method: method, params: retried, timeout: definition.requestTimeout.duration, ceiling: ceiling,
                    onProgress: onProgress)
            }
        }
        state.withLock { $0.lastUsed = .now }
        return outcome
    }

    /// A client's progress token the gateway does not map would reach the server as if it were the gateway's.
    static func withoutProgressToken(_ params: JSONValue?) -> JSONValue? {
        guard var object = params?.objectValue, var meta = object["_meta"]?.objectValue,
            meta["progressToken"] != nil
        else { return params }
        meta["progressToken"] = nil
        object["_meta"] = meta.isEmpty ? nil : .object(meta)
        return .object(object)
    }

    /// A request from the server: `ping` is answered here; sampling, elicitation and roots go to the client
    /// whose call is in flight (the latest, when several are), or, outside any call, to the session that
    /// called last. While it is out, the request holds a lease, so a drain waits for it as for a call.
    func serverRequest(_ method: String, _ params: JSONValue?) async -> RPCOutcome {
        if method == "ping" { return .result([:]) }
        let (inFlight, session) = state.withLock { s -> (InFlightClient, (any ClientRequester)?) in
            s.inFlight += 1
            return (s.inFlightClient, s.lastSession)
        }
        defer { release() }
        let target: (any ClientRequester)?
        switch inFlight {
        case .one(let caller): target = caller
        case .none: target = session
        case .several:
            return .error([
                "code": -32603,
                "message": .string(
                    "server '\(id)' has calls of several clients in flight, so the gateway cannot tell which one "
                        + "\(method) is for; it was not passed on"),
            ])
        }
        return await ask(method, params, of: target)
    }

    /// Asks a client what a server wants of it, when the client announced the capability for it.
    func ask(_ method: String, _ params: JSONValue?, of target: (any ClientRequester)?) async -> RPCOutcome {
        guard clientMethods.contains(method) else {
            return .error(["code": -32601, "message": "hotswap gateway does not pass '\(method)' on to clients"])
        }
        guard let client = target else {
            return .error([
                "code": -32603,
                "message": "no client has called server '\(id)' yet, so there is nobody to ask \(method)",
            ])
        }
        guard client.accepts(method, params) else {
            let capability = method.split(separator: "/").first.map(String.init) ?? method
            return .error([
                "code": -32601,
                "message": .string(
                    "the client did not announce the '\(capability)' capability, so the gateway cannot pass \(method) on"
                ),
            ])
        }
        return await client.request(method, params, timeout: answerTimeout(method))
    }

    /// How long a client may take to answer a server's request. Sampling and elicitation wait for a person
    /// (clients ask before they sample), so they get `max_call_duration`, or ten minutes when that is unset;
    /// `roots/list` is answered by software, within `request_timeout`. The server's requests of ours do not
    /// time out meanwhile (`RPCSession` holds them).
    func answerTimeout(_ method: String) -> Duration {
        guard method != "roots/list" else { return definition.requestTimeout.duration }
        return definition.maxCallDuration.milliseconds > 0 ? definition.maxCallDuration.duration : Self.personTimeout
    }

    static let personTimeout = Duration.seconds(600)

    /// Forwards a notification when the server is running.
    public func notify(method: String, params: JSONValue?) {
        state.withLock { $0.session }?.notify(method: method, params: params)
    }

    // MARK: Starting

    /// Starts the server without waiting for it; `completion` gets nil once it is ready, or the error. The start
    /// itself is bounded by `start_timeout`, so this never runs on forever.
    public func startInBackground(_ completion: @escaping @Sendable ((any Error)?) -> Void) {
        let spawned = tasks.spawn {
            do {
                try await self.ensureStarted()
                completion(nil)
            } catch {
                completion(error)
            }
        }
        if !spawned { completion(BackendError(.unavailable, "the gateway is shutting down")) }
    }

    /// Warms beside live traffic: started by `ensureStarted` at a lower priority until `warmed()`.
    func warmBehind() { state.withLock { $0.warmingBehind = true } }

    /// Swapped in: back at the gateway's priority.
    func warmed() {
        let pid = state.withLock { s -> Int32? in
            defer { s.warmingBehind = false }
            return s.warmingBehind ? s.link?.pid : nil
        }
        if let pid { WarmPriority.restore(group: pid) }
    }

    /// Starts the process and completes the MCP handshake (`initialize`, `notifications/initialized`,
    /// `tools/list`) unless it is already running. Concurrent callers share one start, which runs in the
    /// supervisor's group: a caller that goes away stops waiting, and the start goes on for the others.
    public func ensureStarted() async throws {
        let (outcome, begin) = try state.withLock { s -> (SharedOutcome<Void>?, Bool) in
            switch s.machine.event(.startRequested(now: .now)) {
            case .ready, .none, .restartAfter:
                return (nil, false)
            case .join:
                return (s.starting, false)
            case .refuse(let reason):
                let next = s.machine.stoppedByOperator ? "; POST /servers/\(id)/start" : ""
                throw BackendError(.unavailable, "server '\(id)' \(reason)\(next)")
            case .start:
                let outcome = SharedOutcome<Void>()
                s.starting = outcome
                return (outcome, true)
            }
        }
        guard let outcome else { return }
        if begin {
            let spawned = tasks.spawn {
                do {
                    try await self.start()
                    outcome.complete(.success(()))
                } catch {
                    outcome.complete(.failure(error))
                }
            }
            if !spawned {
                state.withLock { s in
                    _ = s.machine.event(.startFailed("the gateway is shutting down", now: .now, random: 0))
                    s.starting = nil
                }
                outcome.complete(.failure(BackendError(.unavailable, "the gateway is shutting down")))
            }
        }
        try await outcome.value()
    }

    func start() async throws {
        // One deadline for the whole start: spawn, `initialize`, and the tool list. Past it the start fails
        // (a warm start rolls back, a cold one backs off) and the process group is killed below.
        let deadline = ContinuousClock.now + definition.startTimeout.duration
        func remaining() throws -> Duration {
            let left = deadline - .now
            guard left > .zero else {
                throw BackendError(
                    .startFailed,
                    "server '\(id)' did not finish starting within start_timeout \(definition.startTimeout)")
            }
            return left
        }
        do {
            let session = RPCSession(
                serverID: id, logger: logger, tasks: tasks,
                handlers: .init(
                    notification: { [weak self] message in self?.notification(message) },
                    request: { [weak self] method, params in
                        guard let self else { return .error(["code": -32603, "message": "server stopped"]) }
                        return await self.serverRequest(method, params)
                    }))
            let link = try await launcher.launch(
                definition, environment: baseEnvironment, logger: logger, events: session.events)
            session.attach(link.transport)
            let lowered = state.withLock { s in
                s.link = link
                s.session = session
                return s.warmingBehind
            }
            if lowered, let pid = link.pid { WarmPriority.lower(group: pid) }
            link.onEnd { [weak self] description in self?.ended(link, description) }
            let initialize: RPCOutcome
            do {
                initialize = try await session.request(
                    method: "initialize",
                    params: [
                        "protocolVersion": .string(backendProtocolVersion), "capabilities": gatewayClientCapabilities,
                        "clientInfo": ["name": "hotswap-gateway", "version": "0.1.0"],
                    ], timeout: try remaining())
            } catch let error as BackendError where error.kind == .timeout {
                throw BackendError(
                    .startFailed,
                    "server '\(id)' did not answer initialize within start_timeout \(definition.startTimeout)")
            }
            var offerings = Offerings()
            switch initialize {
            case .result(let result):
                session.notify(method: "notifications/initialized", params: nil)
                offerings.capabilities = result["capabilities"] ?? [:]
                offerings.protocolVersion = result["protocolVersion"]?.stringValue ?? ""
            case .error(let refusal):
                // A server of revision 2026-07-28 alone has no `initialize`: ask it with `server/discover`.
                offerings = try await discover(session, refusal: refusal, timeout: try remaining())
            }
            do {
                _ = try remaining()
                try await fetchLists(session, into: &offerings, by: deadline)
            } catch let error as BackendError where error.kind == .timeout {
                throw BackendError(
                    .startFailed,
                    "server '\(id)' did not list its tools, prompts and resources within start_timeout "
                        + "\(definition.startTimeout)")
            }
            let tools = offerings.tools
            state.withLock { s in
                s.offerings = offerings
                // Re-checked after the awaits: a server removed (retired) while it started is draining, not ready.
                _ = s.machine.event(.started(now: .now, resetsBackoff: isRemote))
                s.starting = nil
                s.lastUsed = .now
            }
            if offerings.isModern { listen(session, offerings) }
            logger.info(
                "ready",
                metadata: [
                    "server.pid": "\(link.pid ?? 0)", "server.tools": "\(tools.count)",
                    "server.protocol": "\(offerings.protocolVersion)",
                ])
        } catch {
            let message = (error as? BackendError)?.message ?? "\(error)"
            let (link, session) = state.withLock { s -> ((any BackendLink)?, RPCSession?) in
                _ = s.machine.event(.startFailed(message, now: .now, random: .random(in: 0..<1)))
                s.starting = nil
                defer {
                    s.link = nil
                    s.session = nil
                }
                return (s.link, s.session)
            }
            session?.close()
            if let link { _ = await link.terminate(grace: stopGrace) }
            logger.warning("start failed", metadata: ["error": "\(message)"])
            // A prestart server is meant to be up without a call asking for it: tried again after its backoff.
            if definition.prestart, let at = state.withLock({ $0.machine.restartAt }) { restart(after: at - .now) }
            throw BackendError(.startFailed, message)
        }
    }

    // MARK: Exit, crash, restart

    func ended(_ link: any BackendLink, _ description: String) {
        link.reap()
        let restartDelay = state.withLock { s -> Duration? in
            guard s.link === link else { return nil }
            s.session?.close()
            s.session = nil
            s.link = nil
            // An exit nobody asked for is a crash, and restarts with backoff.
            guard
                case .restartAfter(let delay) = s.machine.event(
                    .exited(description, now: .now, random: .random(in: 0..<1)))
            else { return nil }
            return delay
        }
        guard let restartDelay else {
            logger.debug("exited", metadata: ["server.pid": "\(link.pid ?? 0)", "exit": "\(description)"])
            return
        }
        logger.warning(
            isRemote ? "connection lost; reconnecting with backoff" : "crashed; restarting with backoff",
            metadata: [
                "server.pid": "\(link.pid ?? 0)", "exit": "\(description)", "backoff": "\(restartDelay.shortText)",
            ])
        restart(after: restartDelay)
    }

    /// Starts the server again after `delay`. The timer is cancelled with the supervisor at shutdown; a backend
    /// stopped, retired or started meanwhile is not restarted (the state machine answers `.restartDue` with nothing).
    func restart(after delay: Duration) {
        tasks.spawn { [weak self] in
            guard (try? await Task.sleep(for: delay)) != nil, let self else { return }
            let due = self.state.withLock { $0.machine.event(.restartDue) == .start }
            if due { try? await self.ensureStarted() }
        }
    }

}
