import Dispatch
import HotswapCore
import Synchronization

/// Waits for an event that a callback reports, or for `timeout`, whichever comes first; true when the event came
/// first.
///
/// The one place that races a callback against a deadline. It is deliberately not a task group with a sleeping
/// child: a group waits for every child, so an uncancellable wait inside one can never lose the race (which is
/// why SIGKILL after the grace period used to be never sent). `register` gets the function to call when the
/// event happens; calling it again, or after the deadline, does nothing.
public func waitForEvent(
    within timeout: Duration, _ register: (@escaping @Sendable () -> Void) -> Void
) async -> Bool {
    await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
        let gate = OnceGate()
        register { if gate.claim() { c.resume(returning: true) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0, timeout.inSeconds)) {
            if gate.claim() { c.resume(returning: false) }
        }
    }
}

/// Lets exactly one of several racing callbacks through.
final class OnceGate: Sendable {
    private let taken = Atomic<Bool>(false)
    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
