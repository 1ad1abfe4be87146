import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapGateway
import HotswapRuntime
import Logging
import NIOPosix
import Synchronization

/// Gateway figures: apply time, call overhead, and calls to an unchanged server during a reload storm.
enum GatewayBench {
    static var demoServer: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "mcp-demo-server"
        ).path
    }

    static func catalog(servers: Int, variant: Int, demo: String) -> [UInt8] {
        var out = "version: 1\nservers:\n"
        for i in 0..<servers {
            let name = i == 1 ? "s\(i)-v\(variant)" : "s\(i)"
            out += "  - id: s\(i)\n    runtime: {type: local-process, command: \(demo), args: [--name, \(name)]}\n"
        }
        return Array(out.utf8)
    }

    /// A registry on its own, as the gateway's services would hold it; its supervisor (backend starts, timers,
    /// drains) runs in a task that ends when the registry is shut down.
    static func registry(logger: Logger) -> (Registry, GatewayMetrics) {
        let metrics = GatewayMetrics()
        var settings = Registry.Settings(configPath: nil, environment: ProcessInfo.processInfo.environment)
        settings.stopGrace = .seconds(2)
        let registry = Registry(
            settings: settings, group: MultiThreadedEventLoopGroup.singleton, logger: logger, metrics: metrics)
        Task { await registry.supervise() }
        return (registry, metrics)
    }

    static func run(quick: Bool) async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let demo = demoServer
        guard FileManager.default.isExecutableFile(atPath: demo) else {
            throw BenchFailure("\(demo) is missing: build it (scripts/bench builds every product)")
        }
        var rows: [Samples] = []

        // Apply: a reload that changes one cold server (no process to warm), measured from submit to answer.
        for size in [10, 1000] {
            let (registry, _) = registry(logger: logger)
            _ = await registry.submit(
                ReloadRequest(bytes: catalog(servers: size, variant: 0, demo: demo), source: .socket))
            var apply = Samples("apply \(size)-server catalog, 1 changed (no warm start)")
            let versions = (1...2).map { catalog(servers: size, variant: $0, demo: demo) }
            for i in 0..<(quick ? 5 : (size == 10 ? 200 : 30)) {
                let t0 = ContinuousClock.now
                let report = await registry.submit(ReloadRequest(bytes: versions[i % 2], source: .socket))
                apply.add(ContinuousClock.now - t0)
                precondition(report.result == .applied, "\(report)")
            }
            rows.append(apply)
            await registry.shutdown(timeout: .seconds(1))
        }

        // Calls: straight to a demo server over stdio, and through the gateway's MCP endpoint (routing, lease,
        // JSON-RPC rewrite), both in this process; then through a real gateway process over its Unix socket.
        let n = quick ? 300 : 3000
        let child = try ChildProcess.spawn(
            command: demo, arguments: ["--name", "direct"], environment: ProcessInfo.processInfo.environment,
            workingDirectory: nil)
        // One client session for every direct row; it answers the server's sampling requests as a client would.
        let tasks = TaskSupervisor()
        async let supervised: Void = tasks.run()
        let direct = RPCSession(
            serverID: "direct", logger: logger, tasks: tasks,
            handlers: .init(request: { _, _ in .result(Self.sampled) }))
        direct.attach(
            try await StdioTransport.connect(
                to: child, serverID: "direct", group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                events: direct.events))
        _ = try await direct.request(
            method: "initialize",
            params: [
                "protocolVersion": "2025-11-25", "capabilities": ["sampling": [:]],
                "clientInfo": ["name": "b", "version": "1"],
            ], timeout: .seconds(10))
        var directSamples = Samples("tools/call echo, direct to mcp-demo-server (stdio)")
        let echo: JSONValue = ["name": "echo", "arguments": ["text": "hello"]]
        for _ in 0..<n {
            let t0 = ContinuousClock.now
            _ = try await direct.request(method: "tools/call", params: echo, timeout: .seconds(10))
            directSamples.add(ContinuousClock.now - t0)
        }
        // A call that streams 100 progress notifications, and a sampling round trip, straight to the server.
        let rounds = quick ? 30 : 200
        let progressCall: JSONValue = ["name": "progress", "arguments": ["n": 100]]
        var directProgress = Samples("tools/call with 100 progress notifications, direct")
        for _ in 0..<rounds {
            let seen = Counter()
            let t0 = ContinuousClock.now
            _ = try await direct.request(
                method: "tools/call", params: progressCall, timeout: .seconds(10), onProgress: { _ in seen.add() })
            directProgress.add(ContinuousClock.now - t0)
            precondition(seen.value == 100, "progress went missing")
        }
        let sampleCall: JSONValue = ["name": "sample", "arguments": ["text": "hello"]]
        var directSampling = Samples("tools/call with a sampling round trip, direct")
        for _ in 0..<rounds {
            let t0 = ContinuousClock.now
            _ = try await direct.request(method: "tools/call", params: sampleCall, timeout: .seconds(10))
            directSampling.add(ContinuousClock.now - t0)
        }
        direct.close()
        await tasks.finish(cancelling: true)
        await supervised
        await child.terminate(grace: .seconds(1))

        let (registry, metrics) = registry(logger: logger)
        _ = await registry.submit(ReloadRequest(bytes: catalog(servers: 10, variant: 0, demo: demo), source: .socket))
        let endpoint = MCPEndpoint(registry: registry, metrics: metrics, logger: logger)
        let initialize: JSONValue = [
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["protocolVersion": "2025-11-25"],
        ]
        let reply = await endpoint.post(body: initialize.serialized, sessionID: nil, protocolVersion: nil)
        let session = reply.headers.first { $0.0 == "Mcp-Session-Id" }?.1
        let call = JSONValue.object([
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": ["name": "s0__echo", "arguments": ["text": "hello"]],
        ]).serialized
        _ = await endpoint.post(body: call, sessionID: session, protocolVersion: nil)
        var gatewaySamples = Samples("tools/call echo, through the gateway (in process)")
        for _ in 0..<n {
            let t0 = ContinuousClock.now
            let r = await endpoint.post(body: call, sessionID: session, protocolVersion: nil)
            gatewaySamples.add(ContinuousClock.now - t0)
            precondition(r.status == 200)
        }
        rows += [directSamples, gatewaySamples]

        // The same two through the gateway: the progress on the call's event stream with the client's token;
        // the sampling request on the stream, answered by a POST of the client's response.
        let progressBody = JSONValue.object([
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": ["name": "s0__progress", "arguments": ["n": 100], "_meta": ["progressToken": "p"]],
        ]).serialized
        var gatewayProgress = Samples("tools/call with 100 progress notifications, through the gateway")
        for _ in 0..<rounds {
            let t0 = ContinuousClock.now
            let r = await endpoint.post(body: progressBody, sessionID: session, protocolVersion: nil)
            var notifications = 0
            await r.stream?.forEachMessage { message in
                if message["method"] == "notifications/progress" { notifications += 1 }
            }
            gatewayProgress.add(ContinuousClock.now - t0)
            precondition(notifications == 100, "progress went missing through the gateway")
        }
        let samplingSession = await endpoint.post(
            body: JSONValue.object([
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": ["protocolVersion": "2025-11-25", "capabilities": ["sampling": [:]]],
            ]).serialized, sessionID: nil, protocolVersion: nil
        ).headers.first { $0.0 == "Mcp-Session-Id" }?.1
        let sampleBody = JSONValue.object([
            "jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": ["name": "s0__sample", "arguments": ["text": "hello"]],
        ]).serialized
        var gatewaySampling = Samples("tools/call with a sampling round trip, through the gateway")
        for _ in 0..<rounds {
            let t0 = ContinuousClock.now
            let r = await endpoint.post(body: sampleBody, sessionID: samplingSession, protocolVersion: nil)
            await r.stream?.forEachMessage { request in
                guard request["method"] != nil, let id = request["id"] else { return }
                let answer: JSONValue = ["jsonrpc": "2.0", "id": id, "result": Self.sampled]
                _ = await endpoint.post(body: answer.serialized, sessionID: samplingSession, protocolVersion: nil)
            }
            gatewaySampling.add(ContinuousClock.now - t0)
        }
        rows += [directProgress, gatewayProgress, directSampling, gatewaySampling]

        // Calls to an unchanged server, steady and while another server is reloaded every 20 ms (50 reloads a
        // second, each one a full parse, diff, swap and drain), for the same wall time.
        let phase: Duration = quick ? .seconds(1) : .seconds(5)
        var steady = Samples("call to an unchanged server, steady")
        let steadyEnd = ContinuousClock.now + phase
        while ContinuousClock.now < steadyEnd {
            let t0 = ContinuousClock.now
            _ = await endpoint.post(body: call, sessionID: session, protocolVersion: nil)
            steady.add(ContinuousClock.now - t0)
        }
        let storm = Task {
            var i = 1
            while !Task.isCancelled {
                let next = ContinuousClock.now + .milliseconds(20)
                _ = await registry.submit(
                    ReloadRequest(bytes: catalog(servers: 10, variant: i, demo: demo), source: .socket))
                i += 1
                try? await Task.sleep(until: next)
            }
            return i
        }
        var during = Samples("call to an unchanged server, reload every 20 ms")
        let stormEnd = ContinuousClock.now + phase
        while ContinuousClock.now < stormEnd {
            let t0 = ContinuousClock.now
            let r = await endpoint.post(body: call, sessionID: session, protocolVersion: nil)
            during.add(ContinuousClock.now - t0)
            precondition(r.body?["result"] != nil, "a call failed during the storm")
        }
        storm.cancel()
        let reloads = await storm.value
        rows += [steady, during]
        await registry.shutdown(timeout: .seconds(2))

        // A real gateway process, over its control socket (one connection per call, as curl would).
        let gateway = try GatewayUnderTest(
            catalog: String(decoding: catalog(servers: 10, variant: 0, demo: demo), as: UTF8.self))
        defer { gateway.stop() }
        let socket = gateway.socket
        let client = try MCPBenchClient(socket: socket)
        _ = try client.call(call)
        var http = Samples("tools/call echo, gateway process over its Unix socket")
        for _ in 0..<n {
            let t0 = ContinuousClock.now
            _ = try client.call(call)
            http.add(ContinuousClock.now - t0)
        }
        rows.append(http)
        let reloadBody = catalog(servers: 10, variant: 99, demo: demo)
        var reloadHTTP = Samples("POST /admin/reload, 10 servers, 1 changed (socket round trip)")
        for i in 0..<(quick ? 5 : 50) {
            let body = i % 2 == 0 ? reloadBody : catalog(servers: 10, variant: 0, demo: demo)
            let t0 = ContinuousClock.now
            let r = try ControlClient.request(.unix(path: socket), method: "POST", path: "/admin/reload", body: body)
            reloadHTTP.add(ContinuousClock.now - t0)
            precondition(r.status == 200)
        }
        rows.append(reloadHTTP)
        Samples.printTable(rows)
        print("")
        print("reloads during the storm: \(reloads - 1)")
        let overhead = gatewaySamples.percentile(0.5) - directSamples.percentile(0.5)
        print("gateway overhead at p50 (in process): \(Samples.format(overhead))")
        let perProgress = (gatewayProgress.percentile(0.5) - directProgress.percentile(0.5)) / 101
        print(
            "gateway overhead per message at p50, 100 progress notifications + answer: \(Samples.format(perProgress))")
        let perSampling = (gatewaySampling.percentile(0.5) - directSampling.percentile(0.5)) / 3
        print(
            "gateway overhead per message at p50, sampling round trip (request, answer, result): \(Samples.format(perSampling))"
        )
        let ratio =
            Double(
                during.percentile(0.99).components.attoseconds + during.percentile(0.99).components.seconds
                    * 1_000_000_000_000_000_000)
            / Double(
                steady.percentile(0.99).components.attoseconds + steady.percentile(0.99).components.seconds
                    * 1_000_000_000_000_000_000)
        print(String(format: "p99 during the storm / steady p99: %.2fx", ratio))
    }
}

extension GatewayBench {
    /// A client's answer to a sampling request.
    static let sampled: JSONValue = [
        "role": "assistant", "content": ["type": "text", "text": "sampled"], "model": "bench",
    ]
}

/// Counts progress notifications from a callback.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A gateway process on a catalog, over a Unix socket in a temporary directory.
final class GatewayUnderTest {
    let process = Process()
    let directory: URL
    let socket: String

    init(catalog: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotswap-bench-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("catalog.yaml").path
        try catalog.write(toFile: config, atomically: true, encoding: .utf8)
        socket = directory.appendingPathComponent("s.sock").path
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("hotswap")
        process.arguments = [
            "gateway", "--config", config, "--control-socket", socket, "--no-listen", "--no-watch", "--log-level",
            "error", "--shutdown-timeout", "2s",
        ]
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? ControlClient.request(.unix(path: socket), method: "GET", path: "/readyz"))?.status != 200 {
            guard ContinuousClock.now < deadline else { throw BenchFailure("the gateway did not get ready") }
            usleep(20_000)
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// An MCP session over the gateway's Unix socket, one HTTP connection per call.
struct MCPBenchClient: Sendable {
    let socket: String
    let session: String

    init(socket: String) throws {
        self.socket = socket
        let initialize: JSONValue = [
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["protocolVersion": "2025-11-25"],
        ]
        let reply = try ControlClient.request(
            .unix(path: socket), method: "POST", path: "/mcp", headers: Self.headers, body: initialize.serialized)
        guard let sid = reply.header("Mcp-Session-Id") else { throw BenchFailure("initialize failed: \(reply.text)") }
        session = sid
    }

    func call(_ body: [UInt8], maxReplyBytes: Int = ControlClient.maxReplyBytes) throws -> HTTPReply {
        try ControlClient.request(
            .unix(path: socket), method: "POST", path: "/mcp", headers: Self.headers + [("Mcp-Session-Id", session)],
            body: body, maxReplyBytes: maxReplyBytes)
    }

    /// What Streamable HTTP asks of a client's POST.
    static let headers = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
}
