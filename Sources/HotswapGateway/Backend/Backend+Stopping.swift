import Foundation
import HotswapAPI
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import Synchronization

extension Backend {
    // MARK: Stopping

    /// Takes the backend out of service: no new leases; in-flight calls continue.
    public func retire() {
        state.withLock { _ = $0.machine.event(.retired) }
    }

    /// Waits for in-flight calls to finish, at most `timeout`, then stops the process.
    /// Returns the number of calls that were still running when the time was up (and were cut).
    @discardableResult
    public func drainAndStop(timeout: Duration) async -> Int {
        let drained = await waitForDrain(timeout: timeout)
        let left = drained ? 0 : inFlight
        if !drained {
            logger.warning(
                "drain timeout: stopping with calls in flight", metadata: ["drain.inflight": "\(left)"])
        }
        await stop(to: .stopped)
        return left
    }

    func waitForDrain(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let idle = self.state.withLock { s -> Bool in
                        if s.inFlight == 0 { return true }
                        s.drainWaiters.append(c)
                        return false
                    }
                    if idle { c.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first {
                // Release the waiter so its task can finish.
                let waiters = self.state.withLock { s -> [CheckedContinuation<Void, Never>] in
                    defer { s.drainWaiters = [] }
                    return s.drainWaiters
                }
                for w in waiters { w.resume() }
            }
            return first
        }
    }

    /// Stops the process (SIGTERM to its group, SIGKILL after the grace period) and moves to `phase`.
    public func stop(to phase: BackendState = .cold) async {
        let (link, session, starting) = state.withLock {
            s -> ((any BackendLink)?, RPCSession?, SharedOutcome<Void>?) in
            _ = s.machine.event(.stopBegan)
            return (s.link, s.session, s.starting)
        }
        // Waited for even when this task is cancelled (a shutdown past its deadline): a start left running
        // would leave its process behind. The start is bounded by start_timeout.
        if let starting { _ = await starting.wait() }
        let (lateLink, lateSession) = state.withLock { s in (s.link, s.session) }
        for c in [session, lateSession].compactMap({ $0 }) { c.close() }
        var links = [link, lateLink].compactMap { $0 }
        if links.count == 2, links[0] === links[1] { links.removeLast() }
        for l in links {
            let how = await l.terminate(grace: stopGrace)
            logger.info("stopped", metadata: ["server.pid": "\(l.pid ?? 0)", "exit": "\(how)"])
        }
        state.withLock { s in
            s.link = nil
            s.session = nil
            _ = s.machine.event(.stopFinished(phase))
        }
    }

    /// Stops an idle server whose `idle_ttl` has passed. True when it was stopped.
    /// When this server's idle time runs out if no call comes: nil when it is not running idle-stoppable.
    func idleDue() -> ContinuousClock.Instant? {
        let ttl = definition.idleTTL.duration
        guard ttl > .zero else { return nil }
        return state.withLock { s in
            s.machine.phase == .ready && !s.machine.retired ? (s.inFlight == 0 ? s.lastUsed : .now) + ttl : nil
        }
    }

    public func stopIfIdle(now: ContinuousClock.Instant = .now) async -> Bool {
        let ttl = definition.idleTTL.duration
        guard ttl > .zero else { return false }
        let idle = state.withLock { s in
            s.machine.phase == .ready && s.inFlight == 0 && !s.machine.retired && now - s.lastUsed >= ttl
        }
        guard idle else { return false }
        logger.info("idle for \(definition.idleTTL); stopping until the next call")
        await stop(to: .cold)
        return true
    }

    // MARK: Operator lifecycle

    /// `POST /servers/{id}/stop`: drain, stop, and refuse calls until started again.
    public func operatorStop(drainTimeout: Duration) async {
        state.withLock { _ = $0.machine.event(.operatorStop) }
        _ = await waitForDrain(timeout: drainTimeout)
        await stop(to: .stopped)
    }

    /// `POST /servers/{id}/start`.
    public func operatorStart() async throws {
        state.withLock { _ = $0.machine.event(.operatorStart) }
        try await ensureStarted()
    }

    /// `POST /servers/{id}/restart`: drain, stop, start.
    public func operatorRestart(drainTimeout: Duration) async throws {
        await operatorStop(drainTimeout: drainTimeout)
        try await operatorStart()
    }
}
