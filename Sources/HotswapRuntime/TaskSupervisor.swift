import Synchronization

/// Owns background work: every piece runs in a task the supervisor keeps until it ends, cancels at a cancelling
/// `finish`, and waits for at `finish`, so nothing runs unowned or outlives the gateway.
///
/// Each piece is its own task, started at once: a call's work costs one task and no hop through a feeding loop
/// (each thread wake-up costs tens of microseconds on a small VM; see `scripts/bench-load`). `run()` is the
/// owner's side: it returns once `finish()` has been called and the work is done, and cancelling the task that
/// runs it cancels the work. Work spawned after `finish()` is refused, so the caller can answer "shutting down"
/// instead of waiting forever.
public final class TaskSupervisor: Sendable {
    private struct State {
        var finishing = false
        /// The task running `run()` was cancelled: it returns once nothing runs, finished or not.
        var ownerGone = false
        var running: [Int: Task<Void, Never>] = [:]
        var next = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    public init() {}

    /// Runs `work` in a task of the supervisor's. False when the supervisor has finished (the work does not run).
    @discardableResult
    public func spawn(_ work: @escaping @Sendable () async -> Void) -> Bool {
        spawnCancellable(work) != nil
    }

    /// Runs `work` in a task of the supervisor's; returns what cancels that task, or nil when the supervisor has
    /// finished (the work does not run).
    public func spawnCancellable(_ work: @escaping @Sendable () async -> Void) -> (@Sendable () -> Void)? {
        // Under the lock that `finish` takes, so no work slips in behind it unnoticed; the task's own end takes
        // the lock too, so it finds itself registered.
        state.withLock { s in
            guard !s.finishing else { return nil }
            let id = s.next
            s.next += 1
            let task = Task {
                await work()
                self.ended(id)
            }
            s.running[id] = task
            return { task.cancel() }
        }
    }

    private func ended(_ id: Int) {
        let waiters = state.withLock { s in
            s.running[id] = nil
            return Self.doneWaiters(&s)
        }
        for w in waiters { w.resume() }
    }

    /// The waiters to wake, once `finish()` has been called and no work runs (taken out of the state).
    private static func doneWaiters(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        guard s.finishing || s.ownerGone, s.running.isEmpty else { return [] }
        defer { s.waiters = [] }
        return s.waiters
    }

    private func cancelAll() {
        for task in state.withLock({ Array($0.running.values) }) { task.cancel() }
    }

    /// The owner's side: returns once `finish()` has been called and the work is done. Cancelling the task that
    /// runs it cancels the running work and returns once that has ended, so an owner that is itself cancelled (a
    /// failed test, a task group unwinding) never waits for a `finish()` that will not come. Work spawned later
    /// still runs (a shutdown's last requests, a remote session's DELETE), and `finish()` still waits for it.
    public func run() async {
        await withTaskCancellationHandler {
            await done()
        } onCancel: {
            let waiters = state.withLock { s in
                s.ownerGone = true
                return Self.doneWaiters(&s)
            }
            for w in waiters { w.resume() }
            cancelAll()
        }
    }

    /// No more work: waits for what is running. With `cancelling`, running work is cancelled first (timers,
    /// refreshes); without, it runs to its end (drains).
    public func finish(cancelling: Bool = false) async {
        // With nothing running, `run()` (waiting since before) is woken here: no task's end will do it.
        let waiters = state.withLock { s in
            s.finishing = true
            return Self.doneWaiters(&s)
        }
        for w in waiters { w.resume() }
        if cancelling { cancelAll() }
        await done()
    }

    /// Waits until `finish()` has been called and no work runs.
    private func done() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if (s.finishing || s.ownerGone) && s.running.isEmpty { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

/// One outcome that many tasks can wait for (a backend's start, joined by every call that arrives meanwhile).
/// A waiter that is cancelled stops waiting with `CancellationError`; the work behind the outcome goes on.
public final class SharedOutcome<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
        var plainWaiters: [CheckedContinuation<Result<Value, any Error>, Never>] = []
        var nextWaiter = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Sets the outcome (the first call wins) and wakes every waiter.
    public func complete(_ result: Result<Value, any Error>) {
        let (waiters, plain) = state.withLock {
            s -> ([CheckedContinuation<Value, any Error>], [CheckedContinuation<Result<Value, any Error>, Never>]) in
            guard s.result == nil else { return ([], []) }
            s.result = result
            defer {
                s.waiters = [:]
                s.plainWaiters = []
            }
            return (Array(s.waiters.values), s.plainWaiters)
        }
        for w in waiters { w.resume(with: result) }
        for w in plain { w.resume(returning: result) }
    }

    public var isComplete: Bool { state.withLock { $0.result != nil } }

    /// Waits for the outcome, whether or not the waiting task is cancelled (for work that is itself bounded,
    /// such as a start within its `start_timeout`, that a caller must see finished before it goes on).
    public func wait() async -> Result<Value, any Error> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<Value, any Error>, Never>) in
            let ready = state.withLock { s -> Result<Value, any Error>? in
                if let r = s.result { return r }
                s.plainWaiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// Waits for the outcome.
    public func value() async throws -> Value {
        let key = state.withLock { s in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                let ready = state.withLock { s -> Result<Value, any Error>? in
                    if let r = s.result { return r }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    s.waiters[key] = c
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: key) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
