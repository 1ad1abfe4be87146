import Synchronization

/// Every drain runs as a child task of one task group: the registry service's, or, when no service runs it (a
/// registry used on its own, as the benchmark does), the shutdown's. Nothing drains in a stored, unowned `Task`.
final class DrainSupervisor: Sendable {
    private struct Job: Sendable {
        let backend: Backend
        let timeout: Duration
    }

    private let jobs: AsyncStream<Job>
    private let submit: AsyncStream<Job>.Continuation
    private let metrics: GatewayMetrics
    private let state = Mutex<(claimed: Bool, done: Bool, waiters: [CheckedContinuation<Void, Never>])>(
        (false, false, []))

    init(metrics: GatewayMetrics) {
        (jobs, submit) = AsyncStream.makeStream(of: Job.self)
        self.metrics = metrics
    }

    /// Drains `backend` (its in-flight calls finish, at most `timeout`) and stops it.
    func drain(_ backend: Backend, timeout: Duration) {
        submit.yield(Job(backend: backend, timeout: timeout))
    }

    /// Runs drains until `finish()`, then returns once the last is done. Only the first caller runs them.
    func run() async {
        guard
            state.withLock({ s in
                defer { s.claimed = true }
                return !s.claimed
            })
        else { return }
        let metrics = self.metrics
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask {
                    let began = ContinuousClock.now
                    await job.backend.drainAndStop(timeout: job.timeout)
                    metrics.drainDuration.observe((ContinuousClock.now - began).inSeconds)
                }
            }
        }
        let waiters = state.withLock { s in
            s.done = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// No more drains: waits for those queued or running (running them here when nothing else does).
    func finish() async {
        submit.finish()
        if !state.withLock({ $0.claimed }) { await run() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if !s.done { s.waiters.append(c) }
                return s.done
            }
            if done { c.resume() }
        }
    }
}
