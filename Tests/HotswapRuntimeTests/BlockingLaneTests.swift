import Dispatch
import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import Synchronization
import Testing

/// A gate that work on a lane can be held at, as a read on a dead mount is held in the kernel.
private final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func hold() { semaphore.wait() }
    func release() { semaphore.signal() }
}

@Suite("BlockingLane: blocking reads with a deadline")
struct BlockingLaneTests {
    @Test("work that finishes in time returns its value")
    func inTime() async {
        let lane = BlockingLane(label: "test")
        guard case .done(let value) = await lane.run(within: .seconds(30), { 42 }) else {
            Issue.record("expected a value")
            return
        }
        #expect(value == 42)
        #expect(!lane.isBusy)
    }

    @Test("work that hangs times out; the lane answers busy until it returns, then works again")
    func hangs() async throws {
        let lane = BlockingLane(label: "test")
        let gate = Gate()
        let first = await lane.run(within: .milliseconds(200)) { gate.hold() }
        guard case .timedOut = first else {
            Issue.record("expected a timeout, got \(first)")
            return
        }
        #expect(lane.isBusy)
        guard case .busy = await lane.run(within: .seconds(30), { 1 }) else {
            Issue.record("a second read must not queue behind the stuck one")
            return
        }
        gate.release()
        try await eventually("the stuck work to return") { !lane.isBusy }
        guard case .done(let value) = await lane.run(within: .seconds(30), { 7 }) else {
            Issue.record("the lane must work again")
            return
        }
        #expect(value == 7)
    }

    @Test("a cancelled caller returns at once, long before the deadline")
    func cancelled() async throws {
        let lane = BlockingLane(label: "test")
        let gate = Gate()
        defer { gate.release() }
        let waiting = Task { await lane.run(within: .seconds(3600)) { gate.hold() } }
        try await eventually("the work to start") { lane.isBusy }
        waiting.cancel()
        guard case .timedOut = await waiting.value else {
            Issue.record("a cancelled wait reports no result")
            return
        }
    }

    @Test("waitForEvent: the event, the deadline and cancellation each end the wait once")
    func waitForEventOutcomes() async throws {
        #expect(await waitForEvent(within: .seconds(3600)) { fire in fire() })
        #expect(!(await waitForEvent(within: .milliseconds(10)) { _ in }))
        let fired = Atomic<Int>(0)
        #expect(
            await waitForEvent(within: .seconds(3600)) { fire in
                fire()
                fire()
                fired.add(1, ordering: .relaxed)
            })
        let waiting = Task { await waitForEvent(within: .seconds(3600)) { _ in } }
        waiting.cancel()
        #expect(!(await waiting.value))
    }
}
