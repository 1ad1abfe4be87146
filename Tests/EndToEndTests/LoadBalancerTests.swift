import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// Issue 13, item 6: MCP sessions behind a load balancer without affinity, as a Kubernetes Service spreads
/// connections over a Deployment's replicas. Two real gateways behind nginx's round robin (from Debian), and
/// the official Python SDK as the client.
@Suite("Sessions behind a round-robin load balancer")
struct LoadBalancerTests {
    /// nginx in front of `upstreams`, round robin, one upstream connection per request (so consecutive requests
    /// of one client alternate).
    final class RoundRobin {
        let process = Process()
        let port: Int
        let dir: TemporaryDirectory

        init(_ upstreams: [Int]) throws {
            dir = try TemporaryDirectory("hotswap-lb")
            port = try PeerGatewayProcess.freePort()
            let servers = upstreams.map { "server 127.0.0.1:\($0);" }.joined(separator: " ")
            let config = """
                worker_processes 1;
                pid \(dir.file("nginx.pid"));
                error_log \(dir.file("error.log"));
                events { worker_connections 256; }
                http {
                    log_format upstream '$request_method $upstream_addr $upstream_status';
                    access_log \(dir.file("access.log")) upstream;
                    client_body_temp_path \(dir.file("body"));
                    proxy_temp_path \(dir.file("proxy"));
                    fastcgi_temp_path \(dir.file("fastcgi"));
                    uwsgi_temp_path \(dir.file("uwsgi"));
                    scgi_temp_path \(dir.file("scgi"));
                    upstream gateways { \(servers) }
                    server {
                        listen 127.0.0.1:\(port);
                        location / {
                            proxy_pass http://gateways;
                            proxy_http_version 1.1;
                            proxy_buffering off;
                            proxy_read_timeout 60s;
                        }
                    }
                }
                """
            let path = try dir.write("nginx.conf", config)
            guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: FileManager.default.isExecutableFile)
            else { throw ProcessTestFailure("nginx is missing: .ci/run installs it (apt-get install nginx-light)") }
            process.executableURL = URL(fileURLWithPath: nginx)
            process.arguments = ["-c", path, "-p", dir.path, "-g", "daemon off;"]
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        static func started(_ upstreams: [Int]) async throws -> RoundRobin {
            let lb = try RoundRobin(upstreams)
            try await eventually("nginx to listen") {
                (try? ControlClient.request(.tcp(host: "127.0.0.1", port: lb.port), method: "GET", path: "/healthz"))?
                    .status == 200
            }
            return lb
        }

        /// The access log: one line per request, `METHOD UPSTREAM STATUS`.
        var log: String { (try? String(contentsOfFile: dir.file("access.log"), encoding: .utf8)) ?? "" }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            dir.remove()
        }
    }

    func gateway(_ m: String, _ arguments: [String]) async throws -> (GatewayProcess, Int) {
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("echo", nil, "")]),
            arguments: ["--listen", "127.0.0.1:0", "--allow-host", "gateways"] + arguments, marker: m)
        return (gw, try await gw.tcpPort())
    }

    /// Both gateways run the same catalog (one marker): stop both before checking that no server is left.
    func finish(_ a: GatewayProcess, _ b: GatewayProcess) async throws {
        try await a.stop()
        try await b.stop()
        try await a.finish()
        try await b.finish()
    }

    /// The official SDK through the balancer: initialize, list, and ten calls; the JSON mcp_client.py prints.
    func sdkClient(_ port: Int) async throws -> ProcessOutput {
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/interop/mcp_client.py").path
        var arguments = [script, "http://127.0.0.1:\(port)/mcp"]
        for i in 0..<10 { arguments += ["echo__echo", #"{"text": "call \#(i)"}"#] }
        let args = arguments
        return try await onThread { try ProcessRunner.run(TestPaths.python, args) }
    }

    @Test("a session begun on one replica is served by the other: sealed with the key both share")
    func sharedKey() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("hotswap-lb-key")
        let key = try dir.write("session.key", hexString(try Crypto.randomBytes(32)))
        let (a, portA) = try await gateway(m, ["--session-key", key])
        let (b, portB) = try await gateway(m, ["--session-key", key])
        let lb = try await RoundRobin.started([portA, portB])
        let run = try await sdkClient(lb.port)
        #expect(run.status == 0, "\(run)")
        let calls = (try? JSONValue.parse(run.stdout)["calls"]?.arrayValue) ?? []
        #expect(calls.count == 10 && calls.allSatisfy { $0["isError"]?.boolValue == false }, "\(run.stdout)")
        // Both replicas served this one session's requests, each with 200.
        let posts = lb.log.split(separator: "\n").filter { $0.hasPrefix("POST ") }
        for port in [portA, portB] {
            #expect(posts.contains { $0.contains("127.0.0.1:\(port) 200") }, "\(posts)")
        }
        #expect(!posts.contains { $0.hasSuffix(" 404") }, "\(posts)")
        lb.stop()
        try await finish(a, b)
        dir.remove()
    }

    @Test("without --session-key, replicas mounting the same verify key share sessions too (the manifests' case)")
    func derivedFromVerifyKey() async throws {
        let m = marker()
        let keys = try TemporaryDirectory("hotswap-lb-keys")
        let made = try ProcessRunner.hotswap(["keygen", "--name", "sidecar", "--out", keys.path])
        #expect(made.status == 0, "\(made)")
        let verify = ["--verify-key", keys.file("sidecar.pub.pem")]
        let (a, portA) = try await gateway(m, verify)
        let (b, portB) = try await gateway(m, verify)
        let lb = try await RoundRobin.started([portA, portB])
        let run = try await sdkClient(lb.port)
        #expect(run.status == 0, "\(run)")
        lb.stop()
        try await finish(a, b)
        keys.remove()
    }

    @Test("replicas with different keys refuse each other's sessions (404): the balancer does alternate")
    func differentKeysFail() async throws {
        let m = marker()
        let (a, portA) = try await gateway(m, [])
        let (b, portB) = try await gateway(m, [])
        let lb = try await RoundRobin.started([portA, portB])
        let run = try await sdkClient(lb.port)
        #expect(run.status != 0, "the SDK went through without a shared key: \(run)")
        lb.stop()
        try await finish(a, b)
    }

    @Test("a restarted gateway takes up its sessions; a deleted one stays ended")
    func restart() async throws {
        let m = marker()
        let dir = try TemporaryDirectory("hotswap-lb-restart")
        let key = try dir.write("session.key", hexString(try Crypto.randomBytes(32)))
        let (first, _) = try await gateway(m, ["--session-key", key])
        let client = try MCPTestClient(endpoint: .unix(path: first.socket))
        #expect(try client.tool("echo__echo", ["text": "before"]) == "before")
        try await first.finish()
        let (second, _) = try await gateway(m, ["--session-key", key])
        let resumed = try MCPTestClient(endpoint: .unix(path: second.socket), session: client.sessionID!)
        #expect(try resumed.tool("echo__echo", ["text": "after a restart"]) == "after a restart")
        // A forged or altered id is not taken up.
        let altered = try MCPTestClient(
            endpoint: .unix(path: second.socket),
            session: client.sessionID!.replacingOccurrences(
                of: ".", with: ".A"))
        #expect(try altered.post(["jsonrpc": "2.0", "id": 1, "method": "tools/list"]).status == 404)
        // DELETE ends it here for good.
        let ended = try ControlClient.request(
            .unix(path: second.socket), method: "DELETE", path: "/mcp", headers: [("Mcp-Session-Id", client.sessionID!)]
        )
        #expect(ended.status == 200)
        #expect(try resumed.post(["jsonrpc": "2.0", "id": 2, "method": "tools/list"]).status == 404)
        try await second.finish()
        dir.remove()
    }
}
