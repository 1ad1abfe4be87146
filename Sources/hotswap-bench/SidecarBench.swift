import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore

/// Sidecar figures at default settings: change-to-confirmed latency, and what an idle sidecar costs.
enum SidecarBench {
    static func run(quick: Bool) async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let hotswap = bin.appendingPathComponent("hotswap").path
        let demo = bin.appendingPathComponent("mcp-demo-server").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotswap-sidecar-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func catalog(_ v: Int) -> String {
            "version: 1\nservers:\n  - id: a\n    runtime: {type: local-process, command: \(demo), args: [--name, a\(v)]}\n"
        }
        let cmDir = dir.appendingPathComponent("cm")
        try FileManager.default.createDirectory(at: cmDir, withIntermediateDirectories: true)
        var generation = 0
        func publish(_ files: [String: String]) throws {
            generation += 1
            let stamp = "..2026_11_21_00_00_00.\(generation)"
            let versioned = cmDir.appendingPathComponent(stamp)
            try FileManager.default.createDirectory(at: versioned, withIntermediateDirectories: false)
            for (name, content) in files { try Data(content.utf8).write(to: versioned.appendingPathComponent(name)) }
            let previous = try? FileManager.default.destinationOfSymbolicLink(
                atPath: cmDir.appendingPathComponent("..data").path)
            let tmp = cmDir.appendingPathComponent("..data_tmp").path
            try? FileManager.default.removeItem(atPath: tmp)
            try FileManager.default.createSymbolicLink(atPath: tmp, withDestinationPath: stamp)
            rename(tmp, cmDir.appendingPathComponent("..data").path)
            for name in files.keys
            where (try? FileManager.default.destinationOfSymbolicLink(atPath: cmDir.appendingPathComponent(name).path))
                == nil
            {
                try FileManager.default.createSymbolicLink(
                    atPath: cmDir.appendingPathComponent(name).path, withDestinationPath: "..data/\(name)")
            }
            if let previous { try? FileManager.default.removeItem(at: cmDir.appendingPathComponent(previous)) }
        }
        var files = ["catalog.yaml": catalog(0)]
        for i in 1...9 { files["extra-\(i).txt"] = String(repeating: "x", count: 200 * i) }
        try publish(files)

        // A compose-style bind-mounted directory, edited by rename-save and in place.
        let plainDir = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plainDir, withIntermediateDirectories: true)
        let plainFile = plainDir.appendingPathComponent("catalog.yaml").path
        try Data(catalog(0).utf8).write(to: URL(fileURLWithPath: plainFile))

        var version = 0
        var rows: [Samples] = []
        var idleSidecar: Process?
        var keep: [Process] = []
        defer { for p in keep { p.terminate(); p.waitUntilExit() } }
        let rounds = quick ? 5 : 30
        let kinds = [
            "ConfigMap swap (kubelet algorithm)", "rename-save (plain directory)", "in-place edit (plain directory)",
        ]
        for (index, kind) in (kinds + kinds.map { "\($0), polling only" }).enumerated() {
            let polling = index >= kinds.count
            let index = index % kinds.count
            let socket = dir.appendingPathComponent("s\(index)\(polling ? "p" : "").sock").path
            let watch = index == 0 ? cmDir.path : plainDir.path
            let gateway = try launch(
                hotswap,
                [
                    "gateway", "--config", watch, "--control-socket", socket, "--no-listen", "--no-watch",
                    "--log-level", "error",
                ])
            keep.append(gateway)
            try await waitFor {
                (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz"))?.status == 200
            }
            let sidecar = try launch(
                hotswap,
                ["sidecar", "--watch", watch, "--socket", socket, "--no-listen", "--log-level", "error"]
                    + (polling ? ["--no-inotify"] : []))
            keep.append(sidecar)
            if index == 0 && !polling { idleSidecar = sidecar }
            try await Task.sleep(for: .seconds(1))
            func liveHash() -> String? {
                guard let r = try? ControlClient.request(.unix(path: socket), method: "GET", path: "/stats") else {
                    return nil
                }
                return (try? JSONValue.parse(r.body))?["config_sha256"]?.stringValue
            }
            var samples = Samples("change to confirmed: \(kind)")
            for _ in 0..<rounds {
                version += 1
                let text = catalog(version)
                let hash = ContentHash.sha256(Array(text.utf8))
                let start = ContinuousClock.now
                switch index {
                case 1:
                    // An editor's save: a new file renamed over the old one.
                    let tmp = plainDir.appendingPathComponent(".catalog.yaml.swp").path
                    try Data(text.utf8).write(to: URL(fileURLWithPath: tmp))
                    rename(tmp, plainFile)
                case 2:
                    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: plainFile))
                    try h.truncate(atOffset: 0)
                    try h.write(contentsOf: Data(text.utf8))
                    try h.close()
                default:
                    files["catalog.yaml"] = text
                    try publish(files)
                }
                let deadline = ContinuousClock.now + .seconds(10)
                while liveHash() != hash {
                    guard ContinuousClock.now < deadline else { throw BenchFailure("\(kind): not applied within 10 s") }
                    try await Task.sleep(for: .milliseconds(5))
                }
                samples.add(ContinuousClock.now - start)
                // Changes spread over the poll phase, as real edits are.
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...700)))
            }
            rows.append(samples)
        }
        Samples.printTable(rows)
        guard let sidecar = idleSidecar else { return }

        // Idle: no changes for a while; CPU from /proc/PID/stat, RSS from /proc/PID/status.
        let idle: Duration = quick ? .seconds(10) : .seconds(60)
        let pid = sidecar.processIdentifier
        let cpu0 = cpuSeconds(pid)
        try await Task.sleep(for: idle)
        let cpu1 = cpuSeconds(pid)
        _ = sidecar
        let seconds = Double(idle.components.seconds)
        print("")
        print(
            String(
                format:
                    "idle sidecar over %.0f s watching a 10-file ConfigMap directory at the default 500ms interval:",
                seconds))
        print(
            String(
                format: "  CPU %.3f%% of one core (%.1f ms of CPU), RSS %@", (cpu1 - cpu0) / seconds * 100,
                (cpu1 - cpu0) * 1000, rss(pid)))
    }

    static func launch(_ path: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        try p.run()
        return p
    }

    static func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw BenchFailure("timed out") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// CPU time of every thread of a process, in seconds, from schedstat (nanoseconds, not 10 ms ticks).
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return 0 }
        var total = 0.0
        for t in threads {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/schedstat", encoding: .utf8),
                let first = text.split(separator: " ").first, let ns = Double(first)
            else { continue }
            total += ns / 1e9
        }
        return total
    }

    static func rss(_ pid: Int32) -> String {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? "VmRSS: ?"
        return line.dropFirst("VmRSS:".count).trimmingCharacters(in: .whitespaces)
    }
}
