import HotswapWatch
import Testing

/// Every decision of the push policy, one row each: what it does with each event in each state.
@Suite("Push policy (pure)")
struct PushPolicyTests {
    let t0 = ContinuousClock.now

    /// A policy with `a` validated and its push taken.
    func pushing(_ hash: String = "a") -> PushPolicy {
        var p = PushPolicy(minBackoff: .milliseconds(500), maxBackoff: .seconds(4))
        #expect(p.event(.validated(hash: hash), now: t0) == .push(hash: hash))
        #expect(p.takePush(now: t0) == hash)
        return p
    }

    @Test("valid content is pushed once; a confirmation ends it")
    func confirm() {
        var p = pushing()
        #expect(p.inFlight)
        #expect(p.takePush(now: t0) == nil, "one push at a time")
        #expect(p.event(.tick, now: t0) == .none, "no tick pushes while one is in flight")
        #expect(p.event(.answered(hash: "a", .confirmed(generation: 2)), now: t0) == .none)
        #expect(p.applied == "a" && !p.pending && !p.inFlight)
        #expect(p.event(.tick, now: t0 + .seconds(60)) == .none)
        #expect(p.takePush(now: t0 + .seconds(60)) == nil)
    }

    @Test("a refusal is remembered: the same content is never pushed again, other content is")
    func rejected() {
        var p = pushing()
        #expect(p.event(.answered(hash: "a", .rejected("422")), now: t0) == .holdRejected(hash: "a"))
        #expect(p.rejected == ["a"] && !p.pending)
        #expect(p.event(.tick, now: t0 + .seconds(60)) == .none)
        #expect(p.event(.validated(hash: "a"), now: t0) == .holdRejected(hash: "a"), "the file went back to it")
        #expect(p.takePush(now: t0) == nil)
        #expect(p.event(.validated(hash: "b"), now: t0) == .push(hash: "b"))
        #expect(p.takePush(now: t0) == "b")
    }

    @Test("a transport error retries with backoff doubling to the maximum, and a success resets it")
    func backoff() {
        var p = pushing()
        var now = t0
        var delays: [Duration] = []
        for _ in 0..<5 {
            guard case .retry(let after) = p.event(.answered(hash: "a", .transportError("refused")), now: now) else {
                Issue.record("expected a retry")
                return
            }
            delays.append(after)
            #expect(p.event(.tick, now: now + after - .milliseconds(1)) == .none, "not before its time")
            #expect(p.takePush(now: now + after - .milliseconds(1)) == nil)
            now = now + after
            #expect(p.event(.tick, now: now) == .push(hash: "a"))
            #expect(p.takePush(now: now) == "a")
        }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4)])
        _ = p.event(.answered(hash: "a", .confirmed(generation: 1)), now: now)
        #expect(p.backoff == .zero && p.retryAt == nil)
    }

    @Test("jitter adds a fraction of the backoff, never more than all of it")
    func jitter() {
        var p = pushing()
        #expect(
            p.event(.answered(hash: "a", .transportError("x")), now: t0, jitter: 0.2)
                == .retry(after: .milliseconds(600)))
        _ = p.takePush(now: t0 + .seconds(1))
        #expect(p.event(.answered(hash: "a", .transportError("x")), now: t0, jitter: 7) == .retry(after: .seconds(2)))
    }

    @Test("sent without a way to confirm: not retried (that would apply it again and again)")
    func unconfirmed() {
        var p = pushing()
        #expect(p.event(.answered(hash: "a", .sent), now: t0) == .none)
        #expect(!p.pending && p.applied == nil)
        #expect(p.event(.tick, now: t0 + .seconds(60)) == .none)
    }

    @Test("new content during a push: the answer for the old one does not settle the new one")
    func newerWhileInFlight() {
        var p = pushing("a")
        #expect(p.event(.validated(hash: "b"), now: t0) == .push(hash: "b"))
        #expect(p.takePush(now: t0) == nil, "a is still in flight")
        #expect(p.event(.answered(hash: "a", .confirmed(generation: 1)), now: t0) == .push(hash: "b"))
        #expect(p.applied == nil)
        #expect(p.takePush(now: t0) == "b")
        _ = p.event(.answered(hash: "b", .confirmed(generation: 2)), now: t0)
        #expect(p.applied == "b")
    }

    @Test("an old push refused while newer content waits: the refusal is remembered for the old content")
    func oldRefused() {
        var p = pushing("a")
        _ = p.event(.validated(hash: "b"), now: t0)
        #expect(p.event(.answered(hash: "a", .rejected("bad")), now: t0) == .push(hash: "b"))
        #expect(p.rejected == ["a"])
    }

    @Test("invalid content changes nothing: the last valid content stays the one to serve")
    func invalid() {
        var p = pushing()
        _ = p.event(.answered(hash: "a", .confirmed(generation: 1)), now: t0)
        #expect(p.event(.invalid(hash: "x"), now: t0) == .none)
        #expect(p.valid == "a" && p.applied == "a" && !p.pending)
    }

    @Test("reconcile: a gateway serving other content gets the file's again, unless the file's was refused")
    func reconcile() {
        var p = pushing()
        _ = p.event(.answered(hash: "a", .confirmed(generation: 1)), now: t0)
        #expect(p.event(.observedLive(hash: "a"), now: t0) == .none, "already live")
        #expect(p.event(.observedLive(hash: "old"), now: t0) == .push(hash: "a"))
        #expect(p.applied == nil && p.pending)
        #expect(p.takePush(now: t0) == "a")
        var q = pushing("b")
        _ = q.event(.answered(hash: "b", .rejected("no")), now: t0)
        #expect(q.event(.observedLive(hash: "old"), now: t0) == .none)
        var empty = PushPolicy()
        #expect(empty.event(.observedLive(hash: "old"), now: t0) == .none, "nothing valid read yet")
        #expect(empty.event(.tick, now: t0) == .none)
    }

    @Test("content live at start (the gateway's startup catalog) is valid and applied, and not pushed")
    func startsLive() {
        var p = PushPolicy(live: "a")
        #expect(p.valid == "a" && p.applied == "a" && !p.pending)
        #expect(p.event(.tick, now: t0) == .none)
        #expect(p.takePush(now: t0) == nil)
        #expect(p.event(.observedLive(hash: "a"), now: t0) == .none)
        #expect(p.event(.validated(hash: "b"), now: t0) == .push(hash: "b"))
    }
}
