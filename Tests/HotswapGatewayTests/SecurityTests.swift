import Foundation
import HotswapClient
import HotswapCore
import HotswapTestSupport
import Testing

/// The open descriptors of a process: fd number to what it points at (`socket:[123]`, `pipe:[45]`, a path).
func openDescriptors(_ pid: Int32) -> [Int: String] {
    let dir = "/proc/\(pid)/fd"
    var out: [Int: String] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        guard let fd = Int(entry),
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(entry)")
        else { continue }
        out[fd] = target
    }
    return out
}

@Suite("Gateway security (real processes)", .serialized)
struct SecurityTests {
    /// Issue 8, item 4: backends inherited the gateway's listeners, client connections, epoll fds and pipes.
    @Test("a spawned server holds none of the gateway's sockets, pipes or event fds: only its stdio")
    func backendsInheritNoDescriptors() async throws {
        let m = marker()
        let gw = try await GatewayProcess(
            catalog: catalog(m, [("a", nil, ""), ("b", nil, "")]), arguments: ["--listen", "127.0.0.1:0"], marker: m)
        let client = try MCPTestClient(endpoint: .unix(path: gw.socket))
        // An idle TCP client connection held open while the servers start.
        let port = try await gw.tcpPort()
        let idle = try TCPConnection(host: "127.0.0.1", port: port)
        defer { idle.close() }
        _ = try client.tool("a__whoami")
        _ = try client.tool("b__whoami")
        let gateway = openDescriptors(gw.process.processIdentifier)
        let shared = Set(
            gateway.values.filter { $0.hasPrefix("socket:") || $0.hasPrefix("pipe:") || $0.hasPrefix("anon_inode:") })
        #expect(gateway.values.contains { $0.hasPrefix("socket:") })
        for id in ["a", "b"] {
            let pid = try #require(try gw.pid(id))
            let fds = openDescriptors(pid)
            #expect(fds[0] != nil && fds[1] != nil && fds[2] != nil, "\(id): \(fds)")
            let inherited = fds.filter { $0.key > 2 && shared.contains($0.value) && !$0.value.hasPrefix("anon_inode:") }
            #expect(inherited.isEmpty, "server \(id) (pid \(pid)) holds the gateway's descriptors: \(inherited)")
            // Its stdio are its own pipes, not the gateway's sockets.
            for fd in 0...2 { #expect(fds[fd]?.hasPrefix("pipe:") == true, "\(id) fd \(fd): \(fds[fd] ?? "none")") }
            // Nothing beyond stdio reached it that it did not open itself: no socket at all.
            #expect(!fds.values.contains { $0.hasPrefix("socket:") }, "\(id): \(fds)")
        }
        try await gw.finish()
    }
}

/// A plain TCP connection, held open by a test.
final class TCPConnection: Sendable {
    let fd: Int32

    init(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw ProcessTestFailure("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
    }

    /// Sends bytes; false when the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads what arrives within `timeout` seconds, until the peer closes or `limit` bytes.
    func read(timeout: Int = 5, limit: Int = 1 << 20) -> [UInt8] {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    func close() { Glibc.close(fd) }
}
