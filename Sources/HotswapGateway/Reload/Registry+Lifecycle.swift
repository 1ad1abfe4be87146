import HotswapRuntime
import Synchronization

extension Registry {
    /// Runs the registry's background work (drains, and every backend's tasks) for its lifetime; returns after
    /// `shutdown`. The registry service's task group runs it; so must anything else that uses a registry.
    public nonisolated func supervise() async {
        async let drained: Void = drains.run()
        await backendTasks.run()
        await drained
    }

    /// Stops every backend: in-flight calls get up to `timeout`, then processes are terminated. Reloads asked
    /// for from now on change nothing; one warming now swaps nothing in.
    /// A second call (the gateway's last word after its services) waits for the supervisors too, so
    /// `supervise()` always returns.
    public func shutdown(timeout: Duration) async {
        if phase == .serving {
            phase = .shuttingDown
            // Backends still draining from earlier swaps are bounded by the shutdown's timeout too, not only
            // by their own drain_timeout (which may be minutes).
            let live = live?.backends ?? []
            let backends = live + draining.withLock { Array($0.values) }
            for b in live { b.retire() }
            await withTaskGroup(of: Void.self) { group in
                for b in backends { group.addTask { await b.drainAndStop(timeout: timeout) } }
            }
        }
        await drains.finish()
        await backendTasks.finish(cancelling: true)
        phase = .stopped
    }

    /// Stops servers idle longer than their `idle_ttl`; returns how long until the next could be due: until the
    /// soonest running server's idle time runs out, and never longer than the shortest `idle_ttl` (a server
    /// started meanwhile is due no sooner) nor `longest`.
    @discardableResult
    public func stopIdle(longest: Duration = .seconds(10)) async -> Duration {
        var wait = longest
        for b in live?.backends ?? [] {
            guard phase == .serving else { return wait }
            _ = await b.stopIfIdle()
            let ttl = b.definition.idleTTL.duration
            guard ttl > .zero else { continue }
            wait = min(wait, ttl, b.idleDue().map { max(.zero, $0 - .now) } ?? ttl)
        }
        return wait
    }
}
