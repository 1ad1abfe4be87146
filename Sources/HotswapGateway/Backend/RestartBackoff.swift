/// When to restart a crashed server: 1 s doubling to 60 s, with jitter, reset after 5 minutes up.
///
/// Pure: the caller passes the time, so every rule is tested without sleeping.
public struct RestartBackoff: Sendable, Hashable {
    public var initial: Duration = .seconds(1)
    public var maximum: Duration = .seconds(60)
    /// A server that stayed up this long is healthy again: its next crash starts from `initial`.
    public var resetAfter: Duration = .seconds(300)
    /// Up to this fraction is added at random, so servers that crashed together do not restart together.
    public var jitter: Double = 0.2

    /// Crashes counted since the last reset.
    public private(set) var consecutiveCrashes = 0

    public init() {}

    /// Records a crash of a process that had been up for `uptime`; returns the delay before restarting.
    public mutating func crashed(afterUptime uptime: Duration, random: Double = Double.random(in: 0..<1)) -> Duration {
        if uptime >= resetAfter { consecutiveCrashes = 0 }
        let base = initial * Int(1 << min(consecutiveCrashes, 20))
        consecutiveCrashes += 1
        let capped = min(base, maximum)
        return min(capped + capped * (jitter * random), maximum + maximum * jitter)
    }

    /// Forgets past crashes (a deliberate restart or a new definition).
    public mutating func reset() { consecutiveCrashes = 0 }
}
