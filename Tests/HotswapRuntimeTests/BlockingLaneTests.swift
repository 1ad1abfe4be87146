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

    @Test("a poller on a file system that hangs reports it once, then nothing until it answers")
    func pollerOnHungFileSystem() async throws {
        let fs = HangingFileSystem()
        var settings = CatalogPoller.Settings(watch: "/catalog.yaml")
        settings.settle = .zero
        var poller = CatalogPoller(settings: settings, fileSystem: fs)
        let lane = BlockingLane(label: "test")
        guard case .settling = await poller.poll(on: lane, within: .seconds(30)) else {
            Issue.record("the first content is new")
            return
        }
        fs.hang()
        let hung = await poller.poll(on: lane, within: .milliseconds(100))
        guard case .unreadable(_, let reason) = hung else {
            Issue.record("expected unreadable, got \(hung)")
            return
        }
        #expect(reason.contains("did not answer within 0.1 s"), "\(reason)")
        #expect(await poller.poll(on: lane, within: .milliseconds(100)) == .unchanged)
        fs.answer()
        try await eventually("the stuck poll to return") { !lane.isBusy }
        guard case .settled = await poller.poll(on: lane, within: .seconds(30)) else {
            Issue.record("the content settles once the mount answers")
            return
        }
    }
}

/// A file system whose `stat` hangs until told to answer, as a dead NFS mount's does.
private final class HangingFileSystem: WatchFileSystem, Sendable {
    private let hanging = Mutex<DispatchSemaphore?>(nil)

    func hang() { hanging.withLock { $0 = DispatchSemaphore(value: 0) } }
    func answer() {
        let s = hanging.withLock { s in
            defer { s = nil }
            return s
        }
        s?.signal()
    }

    func stamp(_ path: String) -> FileStamp? {
        hanging.withLock { $0 }?.wait()
        return FileStamp(device: 1, inode: 1, size: 23, mtime: 1, ctime: 1)
    }
    func read(_ path: String, limit: Int) throws(FileIO.Failure) -> [UInt8] { Array("version: 1\nservers: []\n".utf8) }
    func isDirectory(_ path: String) -> Bool { false }
}
