#if canImport(Glibc)
    import Glibc
#endif

/// Where a gateway's API answers: its control socket, or a TCP address.
public enum ControlEndpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// "unix:/run/hotswap/control.sock", "/run/hotswap/control.sock", "http://127.0.0.1:4444".
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("http://") {
            let rest = text.dropFirst(7).prefix { $0 != "/" }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
                return nil
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("/") || text.hasPrefix(".") {
            self = .unix(path: text)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "http://\(host):\(port)"
        }
    }
}

/// An HTTP response.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// The gateway could not be reached, or did not answer HTTP.
public struct ControlClientError: Error, Sendable, CustomStringConvertible {
    public var endpoint: ControlEndpoint
    public var message: String
    public var description: String { "\(endpoint): \(message)" }
}

/// A small blocking HTTP/1.1 client for the control socket and the admin API: one request per connection.
/// The CLI and the sidecar need a handful of requests, not a connection pool.
public enum ControlClient {
    public static func request(
        _ endpoint: ControlEndpoint, method: String, path: String, headers: [(String, String)] = [],
        body: [UInt8] = [], timeoutSeconds: Int = 60
    ) throws(ControlClientError) -> HTTPReply {
        let fd = try connect(endpoint, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        var head =
            "\(method) \(path) HTTP/1.1\r\nHost: hotswap\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try send(fd, Array(head.utf8) + body, endpoint, timeoutSeconds: timeoutSeconds)
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason =
                    errno == EAGAIN
                    ? "timed out after \(timeoutSeconds)s waiting for the answer" : String(cString: strerror(errno))
                throw ControlClientError(endpoint: endpoint, message: reason)
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if let reply = parse(data), reply.complete { return reply.reply }
        }
        guard let reply = parse(data) else {
            throw ControlClientError(endpoint: endpoint, message: "the connection closed without an HTTP answer")
        }
        return reply.reply
    }

    private static func connect(_ endpoint: ControlEndpoint, timeoutSeconds: Int) throws(ControlClientError) -> Int32 {
        switch endpoint {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else {
                throw ControlClientError(endpoint: endpoint, message: "socket: \(String(cString: strerror(errno)))")
            }
            setTimeouts(fd, timeoutSeconds)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw ControlClientError(endpoint: endpoint, message: "the socket path is too long")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0 else {
                let code = errno
                close(fd)
                let hint =
                    code == ENOENT
                    ? "no socket there: is the gateway running with --control-socket \(path)?"
                    : code == EACCES
                        ? "permission denied: run as the gateway's user, or start it with --socket-group"
                        : code == ECONNREFUSED
                            ? "nothing is listening: the gateway is not running" : String(cString: strerror(code))
                throw ControlClientError(endpoint: endpoint, message: hint)
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                throw ControlClientError(endpoint: endpoint, message: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(result) }
            var lastError = ECONNREFUSED
            var info: UnsafeMutablePointer<addrinfo>? = first
            while let ai = info {
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
                if fd >= 0 {
                    setTimeouts(fd, timeoutSeconds)
                    if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                    lastError = errno
                    close(fd)
                }
                info = ai.pointee.ai_next
            }
            throw ControlClientError(
                endpoint: endpoint, message: "cannot connect: \(String(cString: strerror(lastError)))")
        }
    }

    private static func setTimeouts(_ fd: Int32, _ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes the request, but stops early when the server has already answered (a 413 for a body it will not
    /// read): waiting on both directions with poll(2), so a server that stops reading cannot block the client.
    private static func send(_ fd: Int32, _ bytes: [UInt8], _ endpoint: ControlEndpoint, timeoutSeconds: Int)
        throws(ControlClientError)
    {
        var offset = 0
        while offset < bytes.count {
            var p = pollfd(fd: fd, events: Int16(POLLOUT | POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(timeoutSeconds * 1000))
            if ready < 0 {
                if errno == EINTR { continue }
                throw ControlClientError(endpoint: endpoint, message: "poll: \(String(cString: strerror(errno)))")
            }
            if ready == 0 {
                throw ControlClientError(
                    endpoint: endpoint, message: "timed out after \(timeoutSeconds)s sending the request")
            }
            if p.revents & Int16(POLLIN) != 0 { return }
            let n = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == EPIPE || errno == ECONNRESET { return }
                throw ControlClientError(endpoint: endpoint, message: "write: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Parses what has arrived; `complete` once the whole body is there.
    static func parse(_ data: [UInt8]) -> (reply: HTTPReply, complete: Bool)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = data.indices.dropLast(3).first(where: { data[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let head = String(decoding: data[..<end], as: UTF8.self).split(
            separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmed()))
        }
        var body = Array(data[(end + 4)...])
        let header = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 }
        if header("transfer-encoding")?.lowercased() == "chunked" {
            guard let (decoded, done) = dechunk(body) else { return nil }
            return (HTTPReply(status: status, headers: headers, body: decoded), done)
        }
        if let length = header("content-length").flatMap(Int.init) {
            let complete = body.count >= length
            if complete { body = Array(body.prefix(length)) }
            return (HTTPReply(status: status, headers: headers, body: body), complete)
        }
        return (HTTPReply(status: status, headers: headers, body: body), false)
    }

    private static func dechunk(_ data: [UInt8]) -> ([UInt8], Bool)? {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = data[i...].indices.dropLast().first(where: { data[$0] == 13 && data[$0 + 1] == 10 })
            else {
                return (out, false)
            }
            let sizeText = String(decoding: data[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmed(), radix: 16) else { return nil }
            if size == 0 { return (out, true) }
            let start = lineEnd + 2
            guard start + size + 2 <= data.count else { return (out, false) }
            out += data[start..<(start + size)]
            i = start + size + 2
        }
    }
}

extension StringProtocol {
    func trimmed() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
