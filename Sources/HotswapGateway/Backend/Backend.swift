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
    let group: any EventLoopGroup
    let logger: Logger
    let stopGrace: Duration
    let onToolsChanged: @Sendable () -> Void
    let state: Mutex<State>

    struct State {
        /// Every lifecycle rule; the fields below are the resources it governs.
        var machine = BackendStateMachine()
        var child: ChildProcess?
        var connection: StdioConnection?
        var starting: Task<Void, any Error>?
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var slotWaiters: [CheckedContinuation<Void, Never>] = []
        var active = 0
        var tools: [JSONValue]?
        var lastUsed = ContinuousClock.now
    }

    static let counter = Atomic<Int>(0)

    public init(
        definition: ServerDefinition, environment: [String: String], group: any EventLoopGroup, logger: Logger,
        stopGrace: Duration = .seconds(5), onToolsChanged: @escaping @Sendable () -> Void = {}
    ) {
        self.definition = definition
        self.baseEnvironment = environment
        self.group = group
        self.stopGrace = stopGrace
        self.onToolsChanged = onToolsChanged
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
                state: s.machine.phase, inFlight: s.inFlight, pid: s.child.map { $0.pid }, restarts: s.machine.restarts,
                tools: (s.tools ?? []).compactMap { $0["name"]?.stringValue }, lastError: s.machine.lastError)
        }
    }

    /// This backend as `GET /servers` shows it.
    public func report(generation: Int) -> ServerReport {
        let s = status
        return ServerReport(
            id: id, state: s.state, generation: generation, inFlight: s.inFlight, pid: s.pid, restarts: s.restarts,
            tools: s.tools, runtime: definition.runtime.typeName, instance: instance, lastError: s.lastError)
    }

    public var pid: Int32? { state.withLock { $0.child?.pid } }
    public var phase: BackendState { state.withLock { $0.machine.phase } }
    public var inFlight: Int { state.withLock { $0.inFlight } }
    public var isRunning: Bool { state.withLock { $0.machine.phase == .ready || $0.machine.phase == .starting } }

    /// The tools the server listed when it last started (filtered by the catalog's allow/deny), or nil when
    /// it has never started.
    public var tools: [JSONValue]? { state.withLock { $0.tools } }

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
    public func call(method: String, params: JSONValue?) async throws -> RPCOutcome {
        try await ensureStarted()
        try await takeSlot()
        defer { giveSlot() }
        guard let connection = state.withLock({ $0.connection }) else {
            throw BackendError(.unavailable, "server '\(id)' stopped before the call could be sent")
        }
        let outcome = try await connection.request(
            method: method, params: params, timeout: definition.requestTimeout.duration)
        state.withLock { $0.lastUsed = .now }
        return outcome
    }

    /// Forwards a notification (such as `notifications/cancelled`) when the server is running.
    public func notify(method: String, params: JSONValue?) {
        state.withLock { $0.connection }?.notify(method: method, params: params)
    }

    func takeSlot() async throws {
        let limit = definition.maxConcurrency
        let granted = state.withLock { s -> Bool in
            guard s.active < limit else { return false }
            s.active += 1
            return true
        }
        if granted { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.active < limit {
                    s.active += 1
                    return true
                }
                s.slotWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func giveSlot() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            // The slot passes straight to the next waiter, which then owns it.
            if !s.slotWaiters.isEmpty { return s.slotWaiters.removeFirst() }
            s.active -= 1
            return nil
        }
        next?.resume()
    }

    // MARK: Starting

    /// Starts the server without waiting for it; `completion` gets nil once it is ready, or the error. The start
    /// itself is bounded by `start_timeout`, so this never runs on forever.
    public func startInBackground(_ completion: @escaping @Sendable ((any Error)?) -> Void) {
        Task {
            do {
                try await ensureStarted()
                completion(nil)
            } catch {
                completion(error)
            }
        }
    }

    /// Starts the process and completes the MCP handshake (`initialize`, `notifications/initialized`,
    /// `tools/list`) unless it is already running. Concurrent callers share one start.
    public func ensureStarted() async throws {
        let task: Task<Void, any Error>? = try state.withLock { s in
            switch s.machine.event(.startRequested(now: .now)) {
            case .ready, .none, .restartAfter:
                return nil
            case .join:
                return s.starting
            case .refuse(let reason):
                let next = s.machine.stoppedByOperator ? "; POST /servers/\(id)/start" : ""
                throw BackendError(.unavailable, "server '\(id)' \(reason)\(next)")
            case .start:
                let t = Task { try await self.start() }
                s.starting = t
                return t
            }
        }
        try await task?.value
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
            guard case .localProcess(let local) = definition.runtime else {
                throw BackendError(
                    .startFailed, "server '\(id)': remote runtimes are not supported by this gateway build yet")
            }
            var environment = baseEnvironment
            for (k, v) in local.env { environment[k] = v }
            let child = try ChildProcess.spawn(
                command: Self.resolve(command: local.command, path: environment["PATH"]), arguments: local.args,
                environment: environment, workingDirectory: local.workingDir,
                displayName: local.asWritten.value.command)
            logger.info(
                "started",
                metadata: ["server.pid": "\(child.pid)", "server.command": "\(local.asWritten.value.command)"])
            let connection = try await StdioConnection.connect(
                to: child, serverID: id, group: group, logger: logger,
                onNotification: { [weak self] message in self?.notification(message) })
            state.withLock { s in
                s.child = child
                s.connection = connection
            }
            Task { [weak self] in
                let status = await child.waitForExit()
                self?.exited(child: child, status: status)
            }
            let initialize: RPCOutcome
            do {
                initialize = try await connection.request(
                    method: "initialize",
                    params: [
                        "protocolVersion": .string(backendProtocolVersion), "capabilities": [:],
                        "clientInfo": ["name": "hotswap-gateway", "version": "0.1.0"],
                    ], timeout: try remaining())
            } catch let error as BackendError where error.kind == .timeout {
                throw BackendError(
                    .startFailed,
                    "server '\(id)' did not answer initialize within start_timeout \(definition.startTimeout)")
            }
            if case .error(let e) = initialize {
                throw BackendError(.startFailed, "server '\(id)' refused initialize: \(e.text)")
            }
            connection.notify(method: "notifications/initialized", params: nil)
            let tools: [JSONValue]
            do {
                tools = try await listTools(connection, timeout: try remaining())
            } catch let error as BackendError where error.kind == .timeout {
                throw BackendError(
                    .startFailed,
                    "server '\(id)' did not list its tools within start_timeout \(definition.startTimeout)")
            }
            state.withLock { s in
                s.tools = tools
                // Re-checked after the awaits: a server removed (retired) while it started is draining, not ready.
                _ = s.machine.event(.started(now: .now))
                s.starting = nil
                s.lastUsed = .now
            }
            logger.info("ready", metadata: ["server.pid": "\(child.pid)", "server.tools": "\(tools.count)"])
        } catch {
            let message = (error as? BackendError)?.message ?? "\(error)"
            let (child, connection) = state.withLock { s -> (ChildProcess?, StdioConnection?) in
                _ = s.machine.event(.startFailed(message, now: .now, random: .random(in: 0..<1)))
                s.starting = nil
                defer {
                    s.child = nil
                    s.connection = nil
                }
                return (s.child, s.connection)
            }
            connection?.close()
            if let child { await child.terminate(grace: stopGrace) }
            logger.warning("start failed", metadata: ["error": "\(message)"])
            throw BackendError(.startFailed, message)
        }
    }

    /// A bare command name is looked up on PATH and then next to the running executable, so the
    /// `mcp-demo-server` built beside `hotswap` runs without installing either.
    static func resolve(command: String, path: String?) -> String {
        guard !command.contains("/") else { return command }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let sibling = own.appendingPathComponent(command).path
        return access(sibling, X_OK) == 0 ? sibling : command
    }

    /// `tools/list`, following `nextCursor`, filtered by the catalog's allow and deny lists.
    func listTools(_ connection: StdioConnection, timeout: Duration? = nil) async throws -> [JSONValue] {
        var tools: [JSONValue] = []
        var cursor: JSONValue?
        let deadline = ContinuousClock.now + (timeout ?? definition.requestTimeout.duration)
        for _ in 0..<100 {
            let params: JSONValue? = cursor.map { ["cursor": $0] }
            let outcome = try await connection.request(
                method: "tools/list", params: params, timeout: max(.milliseconds(1), deadline - .now))
            guard case .result(let result) = outcome else {
                // A server without tools may answer "method not found": it simply has none.
                return []
            }
            tools += result["tools"]?.arrayValue ?? []
            guard let next = result["nextCursor"], next != .null else { break }
            cursor = next
        }
        return tools.filter { definition.tools.permits($0["name"]?.stringValue ?? "") }
    }

    func notification(_ message: JSONValue) {
        guard message["method"]?.stringValue == "notifications/tools/list_changed" else { return }
        Task {
            guard let connection = state.withLock({ $0.connection }) else { return }
            if let tools = try? await listTools(connection) {
                state.withLock { $0.tools = tools }
                onToolsChanged()
            }
        }
    }

    // MARK: Exit, crash, restart

    func exited(child: ChildProcess, status: Int32) {
        // The leader is gone: whatever it started in its process group goes too, or each crash would leave
        // one more set of orphans behind.
        child.signalGroup(SIGKILL)
        let description = ChildProcess.describe(status: status)
        let restartDelay = state.withLock { s -> Duration? in
            guard s.child === child else { return nil }
            s.connection?.close()
            s.connection = nil
            s.child = nil
            // An exit nobody asked for is a crash, and restarts with backoff.
            guard
                case .restartAfter(let delay) = s.machine.event(
                    .exited(description, now: .now, random: .random(in: 0..<1)))
            else { return nil }
            return delay
        }
        guard let restartDelay else {
            logger.debug("exited", metadata: ["server.pid": "\(child.pid)", "exit": "\(description)"])
            return
        }
        logger.warning(
            "crashed; restarting with backoff",
            metadata: ["server.pid": "\(child.pid)", "exit": "\(description)", "backoff": "\(restartDelay)"])
        Task { [weak self] in
            try? await Task.sleep(for: restartDelay)
            guard let self else { return }
            let due = self.state.withLock { $0.machine.event(.restartDue) == .start }
            if due { try? await self.ensureStarted() }
        }
    }

}
