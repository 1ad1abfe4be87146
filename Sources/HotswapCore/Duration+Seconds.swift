extension Duration {
    /// The duration in seconds, fractions included: what metrics, `DispatchTime` and rates take.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension Duration {
    /// For people: "1.2s", "31s", "250ms".
    public var shortText: String {
        let seconds = inSeconds
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 10 { return "\((seconds * 10).rounded() / 10)s" }
        return "\(Int(seconds.rounded()))s"
    }
}
