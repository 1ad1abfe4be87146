import Dispatch
import HotswapCore
import Synchronization

/// Waits for an event that a callback reports, for `timeout`, or for the task's cancellation, whichever comes
/// first; true when the event came first.
///
/// The one place that races a callback against a deadline. It is deliberately not a task group with a sleeping
/// child: a group waits for every child, so an uncancellable wait inside one can never lose the race (which is
/// why SIGKILL after the grace period used to be never sent). `register` gets the function to call when the
/// event happens; calling it again, or after the deadline, does nothing.
public func waitForEvent(
    within timeout: Duration, _ register: (@escaping @Sendable () -> Void) -> Void
) async -> Bool {
    let race = Race()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            race.install(c)
            register { race.finish(true) }
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0, timeout.inSeconds)) { race.finish(false) }
        }
    } onCancel: {
        race.finish(false)
    }
}

/// One outcome for one waiter, whichever of the event, the deadline and cancellation comes first; cancellation
/// may come before the waiter is installed.
private final class Race: Sendable {
    private let state = Mutex<(waiter: CheckedContinuation<Bool, Never>?, outcome: Bool?)>((nil, nil))

    func install(_ waiter: CheckedContinuation<Bool, Never>) {
        let early = state.withLock { s -> Bool? in
            if let outcome = s.outcome { return outcome }
            s.waiter = waiter
            return nil
        }
        if let early { waiter.resume(returning: early) }
    }

    func finish(_ outcome: Bool) {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard s.outcome == nil else { return nil }
            s.outcome = outcome
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: outcome)
    }
}

/// Runs blocking file-system work (a catalog or token read) on a thread of its own, so a path that never answers
/// (a hung NFS or SMB mount, a FUSE daemon that stopped) blocks that thread only: the caller gets `.timedOut`
/// after its deadline or at once when cancelled, and the request paths, the watcher loop and shutdown go on.
///
/// One piece of work at a time: while an earlier one is still stuck, `run` answers `.busy` at once instead of
/// piling up threads behind the same mount. The stuck thread is left to finish (or not) on its own; its result
/// is discarded.
public final class BlockingLane: Sendable {
    public enum Outcome<T: Sendable>: Sendable {
        case done(T)
        /// The work did not finish within the deadline (or the caller was cancelled); it may still be running.
        case timedOut
        /// An earlier piece of work has not finished yet.
        case busy
    }

    private let busy = Atomic<Bool>(false)
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: "hotswap.lane.\(label)")
    }

    /// Whether an earlier piece of work is still running.
    public var isBusy: Bool { busy.load(ordering: .acquiring) }

    public func run<T: Sendable>(within timeout: Duration, _ work: @escaping @Sendable () -> T) async -> Outcome<T> {
        guard !busy.exchange(true, ordering: .acquiringAndReleasing) else { return .busy }
        let result = Slot<T>()
        let inTime = await waitForEvent(within: timeout) { finished in
            queue.async {
                let value = work()
                result.value.withLock { $0 = value }
                self.busy.store(false, ordering: .releasing)
                finished()
            }
        }
        guard inTime, let value = result.value.withLock({ $0 }) else { return .timedOut }
        return .done(value)
    }
}

private final class Slot<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}
