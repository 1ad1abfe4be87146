extension Duration {
    /// The duration in seconds, fractions included: what metrics, `DispatchTime` and rates take.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
