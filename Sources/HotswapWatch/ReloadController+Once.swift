import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapRuntime
import Logging
import Synchronization

extension ReloadController {
    /// `--once`: read, settle, validate, push, confirm; retries transport errors until `deadline`.
    public func runOnce(deadline: Duration) async -> Result {
        MountCheck.warnIfSingleFileMount(configuration.poller.watch, logger: logger)
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            var poller = self.poller.withLock { $0 }
            let outcome = await poller.poll(on: lane, within: min(fileReadDeadline, end - ContinuousClock.now))
            self.poller.withLock { $0 = poller }
            switch outcome {
            case .settling(_, let after):
                try? await Task.sleep(for: after)
            case .settled(let bytes, let hash):
                guard await validate(bytes, hash: hash, path: poller.resolvedPath()) else { return .invalid }
                while true {
                    let result = await pushIfDue()
                    if result != .unreachable || ContinuousClock.now >= end { return result }
                    let retryAt = state.withLock { $0.policy.retryAt } ?? clock.now()
                    try? await Task.sleep(for: max(.zero, retryAt - clock.now()))
                }
            case .unreadable(let path, let reason):
                logger.error("cannot read the catalog", metadata: ["path": "\(path)", "error": "\(reason)"])
                return .unreadable
            case .unchanged:
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return .unreachable
    }
}
