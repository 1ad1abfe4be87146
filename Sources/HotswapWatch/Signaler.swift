/// What happened when the gateway was told about new content.
public enum SignalOutcome: Sendable, Equatable {
    /// The gateway answered that this hash is live (applied now, or already).
    case confirmed(generation: Int)
    /// The gateway refused this content (invalid for it, a warm start failed, the token was refused).
    /// Not sent again until the content changes.
    case rejected(String)
    /// The signal was delivered but says nothing of the result (SIGHUP, a plain HTTP POST): confirm separately.
    case sent
    /// The gateway could not be reached, or failed in a way worth retrying.
    case transportError(String)
}

/// Tells a gateway to apply content. One method, three transports.
public protocol Signaler: Sendable {
    func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome
    /// A short name for logs and metrics.
    var name: String { get }
}
