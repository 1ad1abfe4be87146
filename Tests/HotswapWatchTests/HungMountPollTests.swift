import Dispatch
import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import HotswapWatch
import Synchronization
import Testing

@Suite("Polling a hung mount")
struct HungMountPollTests {
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
