import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapGateway
import HotswapRuntime
import Synchronization

/// Issue 9's figures, on a real gateway process: a 50 MB result through the gateway against the same server
/// spoken to directly, calls to another server while that result streams, and `tools/list` while one server
/// never answers `initialize`.
enum RobustBench {
    static func run(quick: Bool) async throws {
        let script = FileManager.default.currentDirectoryPath + "/scripts/interop/misbehaving_server.py"
        guard FileManager.default.fileExists(atPath: script) else {
            throw BenchFailure("\(script) is missing: run from the repository root (scripts/bench does)")
        }
        let megabytes = quick ? 20 : 50
        let rounds = quick ? 2 : 5

        // Direct: the server's own stdio, read by a plain loop (no framing beyond finding the newline).
        var direct = Samples("\(megabytes) MB result, direct over stdio")
        for _ in 0..<rounds {
            direct.add(try await directBigCall(script: script, megabytes: megabytes))
        }

        let gateway = try GatewayUnderTest(
            catalog: """
                version: 1
                servers:
                  - id: big
                    runtime: {type: local-process, command: /usr/bin/python3, args: ["\(script)", bench]}
                  - id: other
                    runtime: {type: local-process, command: \(GatewayBench.demoServer), args: [--name, other]}
                  - id: stuck
                    start_timeout: 60s
                    runtime:
                      type: local-process
                      command: /usr/bin/python3
                      args: ["\(script)", bench, --hang-initialize]

                """)
        defer { gateway.stop() }
        let client = try MCPBenchClient(socket: gateway.socket)
        let echo = JSONValue.object([
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": ["name": "other__echo", "arguments": ["text": "hello"]],
        ]).serialized
        let bigCall = JSONValue.object([
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": ["name": "big__big", "arguments": ["mb": .int(Int64(megabytes))]],
        ]).serialized
        // Warm both servers; the stuck one is starting in the background from here on.
        _ = try client.call(echo)
        _ = try client.call(bigCall, maxReplyBytes: 64 << 20)

        var steady = Samples("call to another server, steady")
        let steadyEnd = ContinuousClock.now + (quick ? .seconds(1) : .seconds(3))
        while ContinuousClock.now < steadyEnd {
            let t0 = ContinuousClock.now
            _ = try client.call(echo)
            steady.add(ContinuousClock.now - t0)
        }

        var through = Samples("\(megabytes) MB result, through the gateway (Unix socket)")
        var during = Samples("call to another server, while the result streams")
        for _ in 0..<rounds {
            let done = Flag()
            let background = Thread {
                let t0 = ContinuousClock.now
                let reply = try? client.call(bigCall, maxReplyBytes: 64 << 20)
                let elapsed = ContinuousClock.now - t0
                done.finish(measured: (reply?.body.count ?? 0) > megabytes << 20 ? elapsed : nil)
            }
            background.start()
            while !done.isSet {
                let t0 = ContinuousClock.now
                _ = try client.call(echo)
                during.add(ContinuousClock.now - t0)
            }
            guard let elapsed = done.elapsed else { throw BenchFailure("the big call through the gateway failed") }
            through.add(elapsed)
        }

        var list = Samples("tools/list, one server stuck in initialize")
        for _ in 0..<(quick ? 3 : 10) {
            let fresh = try MCPBenchClient(socket: gateway.socket)
            let body = JSONValue.object(["jsonrpc": "2.0", "id": 4, "method": "tools/list"]).serialized
            let t0 = ContinuousClock.now
            let reply = try fresh.call(body)
            list.add(ContinuousClock.now - t0)
            guard reply.text.contains("other__echo") else { throw BenchFailure("tools/list: \(reply.text)") }
        }

        Samples.printTable([direct, through, steady, during, list])
        print("")
        print(
            String(
                format: "%d MB result, gateway / direct at p50: %.2fx (aim: 1.5x)", megabytes,
                ratio(through.percentile(0.5), direct.percentile(0.5))))
        print(
            String(
                format: "other server's p99 while it streams / steady p99: %.2fx (aim: 2x)",
                ratio(during.percentile(0.99), steady.percentile(0.99))))
        print("tools/list with a server stuck in initialize, max: \(Samples.format(list.values.max()!)) (aim: < 1 s)")
    }

    static func ratio(_ a: Duration, _ b: Duration) -> Double { a.inSeconds / b.inSeconds }

    /// Spawns the server, sends `initialize` and one `tools/call big`, and times the call's answer.
    static func directBigCall(script: String, megabytes: Int) async throws -> Duration {
        let child = try ChildProcess.spawn(
            command: "/usr/bin/python3", arguments: [script, "bench"],
            environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        defer {
            close(child.stdin)
            close(child.stdout)
            close(child.stderr)
        }
        let reader = LineReader(fd: child.stdout)
        func send(_ message: JSONValue) {
            let bytes = message.serialized + [0x0A]
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { write(child.stdin, $0.baseAddress! + sent, $0.count - sent) }
                guard n > 0 else { return }
                sent += n
            }
        }
        send([
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": [
                "protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "b", "version": "1"],
            ],
        ])
        _ = try reader.line()
        send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        let t0 = ContinuousClock.now
        send([
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": ["name": "big", "arguments": ["mb": .int(Int64(megabytes))]],
        ])
        let size = try reader.line()
        let elapsed = ContinuousClock.now - t0
        await child.terminate(grace: .seconds(1))
        guard size > megabytes << 20 else { throw BenchFailure("the direct answer was \(size) bytes") }
        return elapsed
    }
}

/// Reads newline-terminated messages from a descriptor and returns their sizes: a linear scan of each chunk.
final class LineReader {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)

    init(fd: Int32) { self.fd = fd }

    func line() throws -> Int {
        var size = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw BenchFailure("the server closed its stdout") }
            if let newline = buffer[0..<n].firstIndex(of: 0x0A) {
                precondition(newline == n - 1, "one message at a time")
                return size + n
            }
            size += n
        }
    }
}

/// What a background thread reports when it is done: whether it is, and the time it measured (nil: it failed).
final class Flag: Sendable {
    private let state = Mutex<(done: Bool, measured: Duration?)>((false, nil))

    var isSet: Bool { state.withLock { $0.done } }
    var elapsed: Duration? { state.withLock { $0.measured } }
    func finish(measured: Duration?) { state.withLock { $0 = (true, measured) } }
}
