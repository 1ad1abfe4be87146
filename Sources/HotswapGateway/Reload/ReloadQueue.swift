/// One reload at a time; requests that arrive meanwhile coalesce into a single follow-up of the newest content,
/// and every one of their callers gets that follow-up's answer. Pure: the reload service owns one and runs what
/// it says.
public struct ReloadQueue<Request: Sendable, Waiter>: Sendable where Waiter: Sendable {
    /// What the service should do now.
    public enum Action {
        /// Start this reload, answering these waiters with its report.
        case run(Request, waiters: [Waiter])
        /// A reload is running: this request waits for the follow-up (it replaced any earlier waiting one).
        case coalesced
        /// Nothing is left to run.
        case idle
    }

    private var running = false
    private var pending: (request: Request, waiters: [Waiter])?

    public init() {}

    public var isRunning: Bool { running }
    public var waiting: Int { pending?.waiters.count ?? 0 }

    /// A request arrives with the one waiting for its answer.
    public mutating func submit(_ request: Request, waiter: Waiter) -> Action {
        guard running else {
            running = true
            return .run(request, waiters: [waiter])
        }
        if var p = pending {
            p.request = request
            p.waiters.append(waiter)
            pending = p
        } else {
            pending = (request, [waiter])
        }
        return .coalesced
    }

    /// The running reload finished: the follow-up to run, if any.
    public mutating func finished() -> Action {
        guard let next = pending else {
            running = false
            return .idle
        }
        pending = nil
        return .run(next.request, waiters: next.waiters)
    }
}
