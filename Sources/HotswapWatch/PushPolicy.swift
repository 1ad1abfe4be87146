/// When to signal the gateway, and what to do with its answer: the reload controller's decisions, with no I/O.
///
/// Valid content is pushed once; a confirmation ends it; a refusal is remembered (never sent again until the
/// content changes: the anti-pattern of retrying a rejected config forever); a transport error is retried with
/// exponential backoff; a reconcile that finds the gateway serving other content pushes the file's again.
public struct PushPolicy: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// Settled content passed validation.
        case validated(hash: String)
        /// Settled content failed validation: never signalled.
        case invalid(hash: String)
        /// What a push of `hash` ended with.
        case answered(hash: String, SignalOutcome)
        /// Time passed (a poll tick): a retry may be due.
        case tick
        /// The gateway reports `live` as its content; nil when it serves no catalog (`config_sha256: null`).
        case observedLive(hash: String?)
    }

    public enum Action: Sendable, Equatable {
        case none
        /// Signal this content now.
        case push(hash: String)
        /// A transport error: signal again after this long.
        case retry(after: Duration)
        /// The content was refused before (or just now); it is not sent again until it changes.
        case holdRejected(hash: String)
    }

    /// The last content that passed validation.
    public private(set) var valid: String?
    /// The last content the gateway confirmed live.
    public private(set) var applied: String?
    public private(set) var rejected: Set<String> = []
    /// True while `valid` still has to reach the gateway (first push, or a retry).
    public private(set) var pending = false
    /// A push is on its way (taken by `takePush`, not answered yet).
    public private(set) var inFlight = false
    public private(set) var retryAt: ContinuousClock.Instant?
    public private(set) var backoff: Duration = .zero

    public let minBackoff: Duration
    public let maxBackoff: Duration

    /// - Parameter live: content already live and valid when the controller starts (the gateway's own startup
    ///   catalog): it is not pushed again.
    public init(minBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(30), live: String? = nil) {
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        self.valid = live
        self.applied = live
    }

    /// Applies one event at `now`; `jitter` (0..<1) spreads retries of a fleet (a fraction of the backoff added).
    public mutating func event(_ event: Event, now: ContinuousClock.Instant, jitter: Double = 0) -> Action {
        switch event {
        case .validated(let hash):
            valid = hash
            retryAt = nil
            backoff = .zero
            if rejected.contains(hash) {
                pending = false
                return .holdRejected(hash: hash)
            }
            pending = true
            return .push(hash: hash)
        case .invalid:
            return .none
        case .answered(let hash, let outcome):
            inFlight = false
            if case .rejected = outcome { rejected.insert(hash) }
            guard hash == valid else {
                // An answer about content the file has moved past: the newer content is still to be pushed.
                return pending ? .push(hash: valid ?? hash) : .none
            }
            switch outcome {
            case .confirmed:
                applied = hash
                pending = false
                retryAt = nil
                backoff = .zero
                return .none
            case .rejected:
                rejected.insert(hash)
                pending = false
                retryAt = nil
                return .holdRejected(hash: hash)
            case .sent:
                // Delivered with no way to confirm: not retried (that would apply it again and again).
                pending = false
                return .none
            case .transportError:
                backoff = backoff == .zero ? minBackoff : min(backoff * 2, maxBackoff)
                let delay = backoff + backoff * max(0, min(jitter, 1))
                retryAt = now + delay
                pending = true
                return .retry(after: delay)
            }
        case .tick:
            guard pending, !inFlight, let valid else { return .none }
            if let retryAt, retryAt > now { return .none }
            return .push(hash: valid)
        case .observedLive(let live):
            guard let valid, live != valid, !rejected.contains(valid) else { return .none }
            applied = nil
            pending = true
            retryAt = nil
            return .push(hash: valid)
        }
    }

    /// The push to make now, if one is due: marks it in flight until its answer. Nil while another is in flight,
    /// before a retry's time, or when nothing is pending.
    public mutating func takePush(now: ContinuousClock.Instant) -> String? {
        guard pending, !inFlight, let valid else { return nil }
        if let retryAt, retryAt > now { return nil }
        inFlight = true
        return valid
    }
}
