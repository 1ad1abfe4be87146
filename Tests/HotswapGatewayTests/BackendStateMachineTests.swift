import HotswapAPI
import HotswapGateway
import Testing

/// Every transition of a backend's life, with no process: the machine is fed events and its phase, its
/// refusals and its restart delays are checked.
@Suite("Backend state machine (pure)")
struct BackendStateMachineTests {
    let t0 = ContinuousClock.now

    func ready() -> BackendStateMachine {
        var m = BackendStateMachine()
        #expect(m.event(.startRequested(now: t0)) == .start)
        _ = m.event(.started(now: t0))
        return m
    }

    @Test("cold -> starting -> ready; concurrent callers join the one start; a ready server is used as it is")
    func starts() {
        var m = BackendStateMachine()
        #expect(m.phase == .cold && m.acceptsCalls)
        #expect(m.event(.startRequested(now: t0)) == .start)
        #expect(m.phase == .starting)
        #expect(m.event(.startRequested(now: t0)) == .join)
        _ = m.event(.started(now: t0))
        #expect(m.phase == .ready && !m.starting && m.lastError == nil)
        #expect(m.event(.startRequested(now: t0)) == .ready)
    }

    @Test("a failed start backs off: calls are refused until the backoff passes, then it starts again")
    func startFails() {
        var m = BackendStateMachine()
        _ = m.event(.startRequested(now: t0))
        _ = m.event(.startFailed("refused initialize", now: t0, random: 0))
        #expect(m.phase == .failed && m.lastError == "refused initialize")
        guard case .refuse(let why) = m.event(.startRequested(now: t0 + .milliseconds(999))) else {
            Issue.record("expected a refusal during the backoff")
            return
        }
        #expect(why.contains("refused initialize") && why.contains("restarting in"))
        #expect(m.event(.startRequested(now: t0 + .seconds(1))) == .start)
        _ = m.event(.startFailed("again", now: t0 + .seconds(1), random: 0))
        #expect(m.restartAt == t0 + .seconds(3), "the backoff doubles")
    }

    @Test("a crash restarts with backoff 1 s doubling; five minutes up resets it")
    func crashes() {
        var m = ready()
        #expect(m.event(.exited("the process exited with status 1", now: t0, random: 0)) == .restartAfter(.seconds(1)))
        #expect(m.phase == .failed && m.restarts == 1 && m.lastError == "the process exited with status 1")
        #expect(m.event(.restartDue) == .start)
        #expect(m.event(.startRequested(now: t0 + .seconds(1))) == .start)
        _ = m.event(.started(now: t0 + .seconds(1)))
        #expect(m.event(.exited("killed by signal 9", now: t0 + .seconds(2), random: 0)) == .restartAfter(.seconds(2)))
        _ = m.event(.restartDue)
        _ = m.event(.startRequested(now: t0 + .seconds(4)))
        _ = m.event(.started(now: t0 + .seconds(4)))
        #expect(
            m.event(.exited("exited with status 1", now: t0 + .seconds(4) + .seconds(300), random: 0))
                == .restartAfter(.seconds(1)))
        #expect(m.restarts == 3)
    }

    @Test("a remote server that reconnects is healthy again: its next loss starts from the first delay")
    func remoteReconnects() {
        var m = ready()
        #expect(m.event(.exited("https://x/mcp: connection refused", now: t0, random: 0)) == .restartAfter(.seconds(1)))
        _ = m.event(.restartDue)
        _ = m.event(.startRequested(now: t0 + .seconds(1)))
        _ = m.event(.started(now: t0 + .seconds(1), resetsBackoff: true))
        #expect(
            m.event(.exited("https://x/mcp no longer knows the session", now: t0 + .seconds(2), random: 0))
                == .restartAfter(.seconds(1)))
        #expect(m.lastError == "https://x/mcp no longer knows the session")
    }

    @Test("an exit during a stop, after removal or after an operator stop is not a crash")
    func expectedExits() {
        var stopping = ready()
        _ = stopping.event(.stopBegan)
        #expect(stopping.event(.exited("killed by signal 15", now: t0, random: 0)) == .none)
        _ = stopping.event(.stopFinished(.cold))
        #expect(stopping.phase == .cold && stopping.restarts == 0 && !stopping.stopping)
        var removed = ready()
        _ = removed.event(.retired)
        #expect(removed.event(.exited("exited with status 0", now: t0, random: 0)) == .none)
        var stopped = ready()
        _ = stopped.event(.operatorStop)
        #expect(stopped.event(.exited("exited with status 0", now: t0, random: 0)) == .none)
        #expect(stopped.restarts == 0)
    }

    @Test("retired: draining while it runs (its leased calls still go through), refused when cold, never restarted")
    func retired() {
        var m = ready()
        _ = m.event(.retired)
        #expect(m.phase == .draining && !m.acceptsCalls)
        #expect(m.event(.startRequested(now: t0)) == .ready, "a call leased before the swap finishes")
        _ = m.event(.stopBegan)
        _ = m.event(.stopFinished(.stopped))
        #expect(m.event(.startRequested(now: t0)) == .refuse("was removed from the catalog"))
        var cold = BackendStateMachine()
        _ = cold.event(.retired)
        #expect(cold.phase == .cold)
        #expect(cold.event(.startRequested(now: t0)) == .refuse("was removed from the catalog"))
        var crashed = ready()
        _ = crashed.event(.exited("exited with status 1", now: t0, random: 0))
        _ = crashed.event(.retired)
        #expect(crashed.event(.restartDue) == .none)
    }

    @Test("removed while starting: the start finishes as draining, not ready")
    func retiredWhileStarting() {
        var m = BackendStateMachine()
        _ = m.event(.startRequested(now: t0))
        _ = m.event(.retired)
        #expect(m.phase == .draining)
        _ = m.event(.started(now: t0))
        #expect(m.phase == .draining)
    }

    @Test("operator stop refuses calls until start; start clears the backoff")
    func operatorLifecycle() {
        var m = ready()
        _ = m.event(.exited("exited with status 1", now: t0, random: 0))
        _ = m.event(.operatorStop)
        #expect(!m.acceptsCalls)
        #expect(m.event(.startRequested(now: t0 + .seconds(60))) == .refuse("was stopped by an operator"))
        #expect(m.event(.restartDue) == .none, "no restart behind the operator's back")
        _ = m.event(.operatorStart)
        #expect(m.acceptsCalls && m.restartAt == nil && m.backoff.consecutiveCrashes == 0)
        #expect(m.event(.startRequested(now: t0)) == .start)
    }

    @Test("a restart timer that fires after something else happened does nothing")
    func staleRestart() {
        var m = ready()
        #expect(m.event(.restartDue) == .none, "not failed")
        var idle = BackendStateMachine()
        #expect(idle.event(.restartDue) == .none, "cold")
    }
}
