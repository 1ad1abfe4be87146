import Synchronization

/// At most `limit` calls at once to one backend (`max_concurrency`); the rest wait in arrival order.
///
/// Waiting is cancellable: a caller that goes away while it waits (its client disconnected, its call was
/// cancelled) leaves the queue at once and takes no slot, so a burst of abandoned calls cannot hold a server's
/// slots after their clients are gone.
public final class ConcurrencyLimit: Sendable {
    private struct State {
        var active = 0
        var waiters: [(key: Int, waiter: CheckedContinuation<Void, any Error>)] = []
        var nextKey = 0
    }
    private let state = Mutex(State())
    public let limit: Int

    public init(_ limit: Int) { self.limit = max(1, limit) }

    /// Calls holding a slot now.
    public var active: Int { state.withLock { $0.active } }
    /// Calls waiting for a slot.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a slot, waiting for one when all are taken. Throws `CancellationError` when the task is cancelled
    /// before it gets one (and then holds none).
    public func acquire() async throws {
        let (granted, key) = state.withLock { s -> (Bool, Int) in
            defer { s.nextKey += 1 }
            guard s.active < limit else { return (false, s.nextKey) }
            s.active += 1
            return (true, s.nextKey)
        }
        if granted { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.active < limit {
                        s.active += 1
                        return .success(())
                    }
                    s.waiters.append((key, c))
                    return nil
                }
                if let outcome { c.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.key == key }) else { return nil }
                return s.waiters.remove(at: i).waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Gives a slot back: it passes straight to the longest waiter, which then owns it.
    public func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst().waiter }
            s.active -= 1
            return nil
        }
        next?.resume()
    }
}
