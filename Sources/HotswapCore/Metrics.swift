import Synchronization

/// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text format.
///
/// Hand-written rather than a dependency: the gateway and the sidecar need a dozen series, and the text
/// exposition format is a page of rules.
public final class MetricsRegistry: Sendable {
    fileprivate enum Kind: String { case counter, gauge, histogram }

    fileprivate struct Family {
        var name: String
        var help: String
        var kind: Kind
        var buckets: [Double] = []
        /// Label set (sorted pairs) → value, or histogram counts.
        var values: [[String]: Double] = [:]
        var histograms: [[String]: (counts: [UInt64], sum: Double, count: UInt64)] = [:]
    }

    private let families = Mutex<[String: Family]>([:])
    private let order = Mutex<[String]>([])

    public init() {}

    fileprivate func register(_ family: Family) {
        families.withLock { f in
            if f[family.name] == nil { f[family.name] = family }
        }
        order.withLock { o in if !o.contains(family.name) { o.append(family.name) } }
    }

    fileprivate func update(_ name: String, _ body: (inout Family) -> Void) {
        families.withLock { f in
            if var family = f[name] {
                body(&family)
                f[name] = family
            }
        }
    }

    public func counter(_ name: String, help: String) -> Counter {
        register(Family(name: name, help: help, kind: .counter))
        return Counter(registry: self, name: name)
    }

    public func gauge(_ name: String, help: String) -> Gauge {
        register(Family(name: name, help: help, kind: .gauge))
        return Gauge(registry: self, name: name)
    }

    public func histogram(_ name: String, help: String, buckets: [Double]) -> Histogram {
        register(Family(name: name, help: help, kind: .histogram, buckets: buckets.sorted()))
        return Histogram(registry: self, name: name)
    }

    /// The text exposition format (version 0.0.4).
    public func render() -> String {
        let names = order.withLock { $0 }
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in names {
            guard let f = snapshot[name] else { continue }
            out += "# HELP \(f.name) \(f.help)\n# TYPE \(f.name) \(f.kind.rawValue)\n"
            switch f.kind {
            case .counter, .gauge:
                for key in f.values.keys.sorted(by: { $0.joined() < $1.joined() }) {
                    out += "\(f.name)\(Self.labels(key)) \(Self.number(f.values[key]!))\n"
                }
            case .histogram:
                for key in f.histograms.keys.sorted(by: { $0.joined() < $1.joined() }) {
                    let h = f.histograms[key]!
                    var cumulative: UInt64 = 0
                    for (i, bound) in f.buckets.enumerated() {
                        cumulative += h.counts[i]
                        out += "\(f.name)_bucket\(Self.labels(key + ["le", Self.number(bound)])) \(cumulative)\n"
                    }
                    out += "\(f.name)_bucket\(Self.labels(key + ["le", "+Inf"])) \(h.count)\n"
                    out += "\(f.name)_sum\(Self.labels(key)) \(Self.number(h.sum))\n"
                    out += "\(f.name)_count\(Self.labels(key)) \(h.count)\n"
                }
            }
        }
        return out
    }

    fileprivate static func key(_ labels: [String: String]) -> [String] {
        labels.keys.sorted().flatMap { [$0, labels[$0]!] }
    }

    private static func labels(_ pairs: [String]) -> String {
        guard !pairs.isEmpty else { return "" }
        var parts: [String] = []
        var i = 0
        while i + 1 < pairs.count {
            let value = pairs[i + 1].replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
                .replacingAll("\n", with: "\\n")
            parts.append("\(pairs[i])=\"\(value)\"")
            i += 2
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    private static func number(_ v: Double) -> String {
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}

/// A monotonically increasing count.
public struct Counter: Sendable {
    fileprivate let registry: MetricsRegistry
    fileprivate let name: String

    public func increment(by amount: Double = 1, labels: [String: String] = [:]) {
        let key = MetricsRegistry.key(labels)
        registry.update(name) { $0.values[key, default: 0] += amount }
    }
}

/// A value that goes up and down.
public struct Gauge: Sendable {
    fileprivate let registry: MetricsRegistry
    fileprivate let name: String

    public func set(_ value: Double, labels: [String: String] = [:]) {
        let key = MetricsRegistry.key(labels)
        registry.update(name) { $0.values[key] = value }
    }

    /// Replaces every series of this gauge (for values computed at scrape time).
    public func replaceAll(_ series: [([String: String], Double)]) {
        registry.update(name) { f in
            f.values = [:]
            for (labels, value) in series { f.values[MetricsRegistry.key(labels)] = value }
        }
    }
}

/// Observations counted into buckets.
public struct Histogram: Sendable {
    fileprivate let registry: MetricsRegistry
    fileprivate let name: String

    public func observe(_ value: Double, labels: [String: String] = [:]) {
        let key = MetricsRegistry.key(labels)
        registry.update(name) { f in
            var h = f.histograms[key] ?? (counts: [UInt64](repeating: 0, count: f.buckets.count), sum: 0, count: 0)
            if let i = f.buckets.firstIndex(where: { value <= $0 }) { h.counts[i] += 1 }
            h.sum += value
            h.count += 1
            f.histograms[key] = h
        }
    }
}
