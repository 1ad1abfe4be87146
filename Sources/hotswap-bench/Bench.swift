import Foundation
import HotswapAPI
import HotswapCore

/// `swift run -c release hotswap-bench`: the figures the issues ask for, measured on this machine.
@main
struct Bench {
    static func main() async throws {
        let args = CommandLine.arguments.dropFirst()
        let quick = args.contains("--quick")
        if args.contains("--profile-validate") {
            let bytes = Array(SyntheticCatalog.yaml(servers: 1000).utf8)
            for _ in 0..<3 {
                _ = CatalogLoader.load(
                    bytes, options: CatalogLoadOptions(environment: .expand(["API_TOKEN": "x", "HOME": "/"])))
            }
            return
        }
        if args.contains("--profile-token") {
            let key = TokenKey(kid: "hs", material: .hmac(secret: try Crypto.randomBytes(32)))
            let verifier = ReloadTokenVerifier(keyring: try Keyring([key]), audience: "a")
            for _ in 0..<200 {
                let token = try ReloadTokenSigner(key: key).sign(
                    try ReloadClaims.make(op: "reload", sha256: "ab", audience: "a", issuer: "b", ttlSeconds: 60))
                _ = try verifier.verify(token, expecting: TokenExpectation(op: "reload"))
            }
            return
        }
        print("hotswap-bench  \(Machine.describe())")
        print("")
        let only = args.first { $0.hasPrefix("--only=") }.map { String($0.dropFirst("--only=".count)) }
        if only == nil || only == "core" {
            try core(iterations: quick ? 5 : 50, tokenIterations: quick ? 200 : 5000)
            print("")
        }
        if only == nil || only == "gateway" {
            try await GatewayBench.run(quick: quick)
            print("")
        }
        if only == nil || only == "robust" {
            try await RobustBench.run(quick: quick)
            print("")
        }
        if only == nil || only == "sidecar" {
            try await SidecarBench.run(quick: quick)
        }
    }

    /// Validate + diff of a 1,000-server catalog, and token verification.
    static func core(iterations: Int, tokenIterations: Int) throws {
        let oldText = SyntheticCatalog.yaml(servers: 1000)
        let newText = SyntheticCatalog.yaml(servers: 1000, changing: 500)
        let old = Array(oldText.utf8)
        let new = Array(newText.utf8)
        let env: EnvironmentPolicy = .expand(["API_TOKEN": "t0ken", "HOME": "/root"])
        let options = CatalogLoadOptions(environment: env)
        guard let oldCatalog = CatalogLoader.load(old, options: options).catalog,
            let newCatalog = CatalogLoader.load(new, options: options).catalog
        else { throw BenchFailure("the synthetic catalog does not validate") }
        let check = CatalogDiff(from: oldCatalog, to: newCatalog)
        guard check.modified.count == 1, check.unchanged.count == 999 else {
            throw BenchFailure("unexpected diff \(check.modified)")
        }

        var parse = Samples("  of which: YAML parse into the tree")
        for _ in 0..<iterations {
            let t0 = ContinuousClock.now
            _ = try YAMLDocument.parse(new)
            parse.add(ContinuousClock.now - t0)
        }
        var validate = Samples("validate 1,000 servers (\(old.count / 1024) KiB)")
        var diff = Samples("diff 1,000 servers, 1 modified")
        var both = Samples("validate + diff (a reload's CPU work)")
        for _ in 0..<iterations {
            let t0 = ContinuousClock.now
            let loaded = CatalogLoader.load(new, options: options)
            let t1 = ContinuousClock.now
            let d = CatalogDiff(from: oldCatalog, to: loaded.catalog!)
            let t2 = ContinuousClock.now
            precondition(d.modified.count == 1)
            validate.add(t1 - t0)
            diff.add(t2 - t1)
            both.add(t2 - t0)
        }

        let seed = try Crypto.ed25519GenerateSeed()
        let edKey = TokenKey(
            kid: "ed", material: .ed25519Private(seed: seed, publicKey: try Crypto.ed25519PublicKey(seed: seed)))
        let hsKey = TokenKey(kid: "hs", material: .hmac(secret: try Crypto.randomBytes(32)))
        let verifier = ReloadTokenVerifier(keyring: try Keyring([edKey, hsKey]), audience: "hotswap-gateway")
        let sha = ContentHash.sha256(new)
        var tokenSamples: [Samples] = []
        for key in [edKey, hsKey] {
            var samples = Samples("verify a token (\(key.algorithm.rawValue))")
            for _ in 0..<tokenIterations {
                let claims = try ReloadClaims.make(
                    op: "reload", sha256: sha, audience: "hotswap-gateway", issuer: "bench", ttlSeconds: 60)
                let token = try ReloadTokenSigner(key: key).sign(claims)
                let t0 = ContinuousClock.now
                _ = try verifier.verify(token, expecting: TokenExpectation(op: "reload", sha256: sha))
                samples.add(ContinuousClock.now - t0)
            }
            tokenSamples.append(samples)
        }
        var raw = Samples("  of which: Ed25519 signature check alone")
        let message = [UInt8](repeating: 7, count: 300)
        let signature = try Crypto.ed25519Sign(seed: seed, message: message)
        let pub = try Crypto.ed25519PublicKey(seed: seed)
        for _ in 0..<tokenIterations {
            let t0 = ContinuousClock.now
            precondition(Crypto.ed25519Verify(publicKey: pub, signature: signature, message: message))
            raw.add(ContinuousClock.now - t0)
        }
        tokenSamples.insert(raw, at: 1)
        var hashSamples = Samples("sha256 of the 1,000-server catalog")
        for _ in 0..<iterations {
            let t0 = ContinuousClock.now
            _ = ContentHash.sha256(new)
            hashSamples.add(ContinuousClock.now - t0)
        }
        Samples.printTable([validate, parse, diff, both] + tokenSamples + [hashSamples])
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Timings of one operation, summarized as min / p50 / p99 / max.
struct Samples {
    var name: String
    var values: [Duration] = []

    init(_ name: String) { self.name = name }

    mutating func add(_ d: Duration) { values.append(d) }

    func percentile(_ p: Double) -> Duration {
        let sorted = values.sorted()
        let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    static func format(_ d: Duration) -> String {
        let us = Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        if us >= 1000 { return String(format: "%.2f ms", us / 1000) }
        return String(format: "%.1f µs", us)
    }

    static func printTable(_ rows: [Samples]) {
        let width = rows.map(\.name.count).max() ?? 10
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        print(pad("operation", width) + "  " + ["n", "min", "p50", "p99", "max"].map { pad($0, 12) }.joined())
        for r in rows {
            let cells = [
                "\(r.values.count)", format(r.values.min()!), format(r.percentile(0.5)), format(r.percentile(0.99)),
                format(r.values.max()!),
            ]
            print(pad(r.name, width) + "  " + cells.map { pad($0, 12) }.joined())
        }
    }
}

/// A catalog shaped like a real one: local processes with args, env and tool filters, and remotes with headers.
enum SyntheticCatalog {
    static func yaml(servers: Int, changing changed: Int? = nil) -> String {
        var out = "version: 1\ndefaults:\n  request_timeout: 30s\n  drain_timeout: 30s\nservers:\n"
        for i in 0..<servers {
            let suffix = i == changed ? "-v2" : ""
            if i % 3 == 2 {
                out += """
                      - id: remote-\(i)
                        description: Remote server \(i)
                        runtime:
                          type: remote
                          url: https://mcp-\(i).internal/mcp
                          headers: { Authorization: "Bearer ${API_TOKEN}", X-Tenant: "t\(i)\(suffix)" }

                    """
            } else {
                out += """
                      - id: local-\(i)
                        description: Local server \(i)
                        runtime:
                          type: local-process
                          command: mcp-demo-server
                          args: ["--name", "s\(i)\(suffix)", "--verbose"]
                          env: { HOME: "${HOME}", LEVEL: "\(i % 5)" }
                        tools: { allow: [echo, sleep, whoami] }
                        max_concurrency: \(8 + i % 8)

                    """
            }
        }
        return out
    }
}

/// What machine the figures come from.
enum Machine {
    static func describe() -> String {
        let cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let date = Date().formatted(.iso8601)
        #if DEBUG
            let build = "DEBUG build: figures are not representative, use -c release"
        #else
            let build = "release build"
        #endif
        return "\(cpu), \(cores) cores, \(date), \(build)"
    }
}
