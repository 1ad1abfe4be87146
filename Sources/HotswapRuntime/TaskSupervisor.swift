import Synchronization

/// Owns background work as child tasks of one task group, so nothing runs in a stored, unowned `Task`.
///
/// The group is the caller of `run()`: a service's (the gateway runs its supervisors inside the registry
/// service), or, when no service runs it (a registry used on its own, as the benchmark does), `finish()`'s.
/// Work spawned before `run()` starts waits for it; work spawned after `finish()` is refused, so the caller
/// can answer "shutting down" instead of waiting forever.
public final class TaskSupervisor: Sendable {
    private let jobs: AsyncStream<@Sendable () async -> Void>
    private let submit: AsyncStream<@Sendable () async -> Void>.Continuation
    private struct State {
        var claimed = false
        var finishing = false
        var cancelling = false
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    public init() {
        (jobs, submit) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
    }

    /// Runs `work` as a child of the supervisor's group. False when the supervisor has finished (the work does
    /// not run).
    @discardableResult
    public func spawn(_ work: @escaping @Sendable () async -> Void) -> Bool {
        // Checked under the lock that `finish` takes, so no job slips in behind the stream's end unnoticed.
        state.withLock { s in
            guard !s.finishing else { return false }
            if case .terminated = submit.yield(work) { return false }
            return true
        }
    }

    /// Runs spawned work until `finish()`, then returns once the last piece is done (or, when finishing with
    /// cancellation, cancelled and done). Only the first caller runs it; later callers return at once.
    public func run() async {
        guard
            state.withLock({ s in
                defer { s.claimed = true }
                return !s.claimed
            })
        else { return }
        await withDiscardingTaskGroup { group in
            for await job in jobs { group.addTask { await job() } }
            if state.withLock({ $0.cancelling }) { group.cancelAll() }
        }
        let waiters = state.withLock { s in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// No more work: waits for what is queued or running (running it here when nothing else does). With
    /// `cancelling`, running work is cancelled first (timers, refreshes); without, it runs to its end (drains).
    public func finish(cancelling: Bool = false) async {
        let claimed = state.withLock { s in
            s.finishing = true
            s.cancelling = cancelling
            return s.claimed
        }
        submit.finish()
        if !claimed { await run() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if !s.done { s.waiters.append(c) }
                return s.done
            }
            if done { c.resume() }
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
