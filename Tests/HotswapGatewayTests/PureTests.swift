import HotswapCore
import HotswapGateway
import HotswapRuntime
import HotswapWatch
import Testing

@Suite("Restart backoff")
struct RestartBackoffTests {
    @Test("1 s doubling to 60 s, no jitter")
    func doubling() {
        var b = RestartBackoff()
        let delays = (0..<9).map { _ in b.crashed(afterUptime: .seconds(1), random: 0) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
    }

    @Test("jitter adds at most 20%")
    func jitter() {
        var b = RestartBackoff()
        #expect(b.crashed(afterUptime: .zero, random: 0.999) < .milliseconds(1200))
        var c = RestartBackoff()
        for _ in 0..<10 { _ = c.crashed(afterUptime: .zero, random: 0) }
        #expect(c.crashed(afterUptime: .zero, random: 1) == .seconds(72))
    }

    @Test("five minutes up resets the sequence")
    func reset() {
        var b = RestartBackoff()
        for _ in 0..<5 { _ = b.crashed(afterUptime: .seconds(10), random: 0) }
        #expect(b.crashed(afterUptime: .seconds(299), random: 0) == .seconds(32))
        #expect(b.crashed(afterUptime: .seconds(300), random: 0) == .seconds(1))
        #expect(b.crashed(afterUptime: .seconds(1), random: 0) == .seconds(2))
        b.reset()
        #expect(b.consecutiveCrashes == 0)
    }
}

@Suite("Child environment")
struct ChildEnvironmentTests {
    @Test("a server gets the base variables, LC_*, and what --pass-env names; nothing else of the gateway's")
    func base() {
        let gateway = [
            "PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC", "AWS_SECRET": "x",
            "HOTSWAP_VERIFY_KEY": "/k", "HTTP_PROXY": "http://p",
        ]
        #expect(
            ChildEnvironment.base(from: gateway)
                == ["PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC"])
        #expect(ChildEnvironment.base(from: gateway, passing: ["HTTP_PROXY", "UNSET"])["HTTP_PROXY"] == "http://p")
        #expect(ChildEnvironment.base(from: gateway, passing: ["HTTP_PROXY"]).count == 6)
    }
}

@Suite("HTTP limits")
struct HTTPLimitsTests {
    @Test("client connections leave a reserve for servers and the control socket")
    func connectionsForDescriptors() {
        #expect(HTTPLimits.connections(forDescriptorLimit: 256) == 256 - 64 - 64)
        #expect(HTTPLimits.connections(forDescriptorLimit: 1024) == 1024 - 256 - 64)
        #expect(HTTPLimits.connections(forDescriptorLimit: 1 << 20) == 100_000)
        #expect(HTTPLimits.connections(forDescriptorLimit: 40) == 16)
    }

    @Test("loopback listeners answer only to loopback names and --allow-host")
    func hostPolicy() {
        let loopback = HostPolicy(listenHost: "127.0.0.1", allowed: ["gw.internal"])
        for host in ["127.0.0.1:4444", "localhost", "LOCALHOST:1", "[::1]:4444", "gw.internal", "gw.internal:8"] {
            #expect(loopback.permits(host), "\(host)")
        }
        for host in ["evil.example", "evil.example:4444", "127.0.0.1.evil.example", "", "localhost.:80"] {
            #expect(!loopback.permits(host), "\(host)")
        }
        #expect(!loopback.permits(nil))
        #expect(HostPolicy(listenHost: "0.0.0.0", allowed: []).permits("anything"))
        #expect(!HostPolicy(listenHost: "0.0.0.0", allowed: ["gateway"]).permits("other"))
    }
}
