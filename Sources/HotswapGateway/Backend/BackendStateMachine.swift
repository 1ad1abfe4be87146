import HotswapAPI

/// The life of one backend as a pure state machine: every rule of starting, crashing, restarting with backoff,
/// draining and operator stops, with no process, clock or task. `Backend` feeds it events and carries out the
/// actions; tests drive it through every transition directly.
public struct BackendStateMachine: Sendable, Equatable {
    public private(set) var phase: BackendState = .cold
    /// Out of the live generation: takes no new calls, never restarts.
    public private(set) var retired = false
    /// Stopped by `POST /servers/{id}/stop`: refuses calls until started again.
    public private(set) var stoppedByOperator = false
    /// A stop is in progress: the exit it causes is not a crash.
    public private(set) var stopping = false
    /// A start (spawn and handshake) is in progress.
    public private(set) var starting = false
    /// While a crashed or failed server waits out its backoff.
    public private(set) var restartAt: ContinuousClock.Instant?
    public private(set) var lastError: String?
    public private(set) var restarts = 0
    public private(set) var startedAt: ContinuousClock.Instant?
    public private(set) var backoff = RestartBackoff()

    public init() {}

    public enum Event: Sendable, Equatable {
        /// A call, a warm start or a restart timer wants the server running.
        case startRequested(now: ContinuousClock.Instant)
        /// The handshake finished.
        /// Started; `resetsBackoff` for a remote server, whose successful reconnection is its health (there is no
        /// process uptime to wait out: a server restarted behind its URL must not cost the next loss 30 s).
        case started(now: ContinuousClock.Instant, resetsBackoff: Bool = false)
        /// The start failed (spawn, `initialize`, tool list, `start_timeout`); `random` is the backoff's jitter.
        case startFailed(String, now: ContinuousClock.Instant, random: Double)
        /// The process exited or the remote server went away; `description` says how ("the process exited with
        /// status 1", "https://...: connection refused").
        case exited(String, now: ContinuousClock.Instant, random: Double)
        /// The backoff after a crash has passed.
        case restartDue
        /// The server left the live generation (removed or replaced).
        case retired
        case stopBegan
        case stopFinished(BackendState)
        case operatorStop
        case operatorStart
    }

    public enum Action: Sendable, Equatable {
        case none
        /// Spawn the process and complete the handshake.
        case start
        /// A start is already in progress: wait for it.
        case join
        /// Running and ready: go ahead.
        case ready
        /// Refuse with this reason (for the caller's error).
        case refuse(String)
        /// A crash: restart after this delay (unless something else happens first).
        case restartAfter(Duration)
    }

    /// Whether a call may take a lease now.
    public var acceptsCalls: Bool { !retired && !stoppedByOperator }

    public mutating func event(_ event: Event) -> Action {
        switch event {
        case .startRequested(let now):
            // Draining: the process still runs, finishing the calls that took their lease before the swap.
            if (phase == .ready || phase == .draining) && !starting { return .ready }
            if starting { return .join }
            if stoppedByOperator { return .refuse("was stopped by an operator") }
            if retired { return .refuse("was removed from the catalog") }
            if let at = restartAt, at > now {
                return .refuse("is down (\(lastError ?? "unknown")); restarting in \((at - now).shortText)")
            }
            phase = .starting
            starting = true
            return .start
        case .started(let now, let resetsBackoff):
            starting = false
            if resetsBackoff { backoff.reset() }
            // A server removed while it started is draining, not ready.
            phase = retired ? .draining : .ready
            startedAt = now
            lastError = nil
            restartAt = nil
            return .none
        case .startFailed(let message, let now, let random):
            starting = false
            phase = .failed
            lastError = message
            // A server that cannot start is not spawned again on every call: the crash backoff applies.
            restartAt = now + backoff.crashed(afterUptime: .zero, random: random)
            return .none
        case .exited(let description, let now, let random):
            if stopping || retired || stoppedByOperator { return .none }
            restarts += 1
            lastError = description
            let delay = backoff.crashed(afterUptime: startedAt.map { now - $0 } ?? .zero, random: random)
            phase = .failed
            restartAt = now + delay
            return .restartAfter(delay)
        case .restartDue:
            guard phase == .failed, !retired, !stoppedByOperator else { return .none }
            restartAt = nil
            return .start
        case .retired:
            retired = true
            if phase == .ready || phase == .starting { phase = .draining }
            return .none
        case .stopBegan:
            stopping = true
            return .none
        case .stopFinished(let to):
            stopping = false
            phase = to
            return .none
        case .operatorStop:
            stoppedByOperator = true
            return .none
        case .operatorStart:
            stoppedByOperator = false
            restartAt = nil
            backoff.reset()
            return .none
        }
    }
}
