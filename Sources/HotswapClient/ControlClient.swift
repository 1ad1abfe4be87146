import HotswapAPI

#if canImport(Glibc)
    import Glibc
#endif

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
        body: [UInt8] = [], timeoutSeconds: Int = 60, maxReplyBytes: Int = ControlClient.maxReplyBytes
    ) throws(ControlClientError) -> HTTPReply {
        let fd = try connect(endpoint, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        var head =
            "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try send(fd, Array(head.utf8) + body, endpoint, timeoutSeconds: timeoutSeconds)
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        // Re-parsing a growing reply after every 64 KiB read is quadratic in its size, so the reply is parsed
        // again only when it can be complete: at the length its head announces, or (chunked) each time what has
        // arrived doubles; Connection: close ends it at the latest.
        var parseAt = 0
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
            guard data.count <= maxReplyBytes else {
                throw ControlClientError(endpoint: endpoint, message: "the reply is over \(maxReplyBytes) bytes")
            }
            guard data.count >= parseAt else { continue }
            guard let partial = try parsed(data, endpoint, limit: maxReplyBytes) else {
                parseAt = data.count + 1  // the head is still incomplete (at most 64 KiB)
                continue
            }
            if partial.complete { return partial.reply }
            if let length = partial.reply.header("Content-Length").flatMap({ Int($0) }) {
                parseAt = data.count - partial.reply.body.count + length
                data.reserveCapacity(parseAt)
                // A large reply is read in 1 MiB steps: a sixteenth of the system calls.
                if length > 1 << 20, chunk.count < 1 << 20 { chunk = [UInt8](repeating: 0, count: 1 << 20) }
            } else {
                parseAt = data.count * 2
            }
        }
        guard let reply = try parsed(data, endpoint, limit: maxReplyBytes) else {
            throw ControlClientError(endpoint: endpoint, message: "the connection closed without an HTTP answer")
        }
        return reply.reply
    }

    private static func parsed(_ data: [UInt8], _ endpoint: ControlEndpoint, limit: Int) throws(ControlClientError)
        -> (reply: HTTPReply, complete: Bool)?
    {
        do {
            return try parse(data, limit: limit)
        } catch {
            throw ControlClientError(endpoint: endpoint, message: "not a valid HTTP reply: \(error)")
        }
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
            // Whoever listens there must be the gateway's user (ours, or root): a socket another local user
            // created first would otherwise receive our tokens and catalogs, and could fake the answer.
            var cred = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw ControlClientError(endpoint: endpoint, message: "cannot check who listens there: \(reason)")
            }
            let trusted = ControlEndpoint.trustedSocketUIDs
            guard trusted.contains(cred.uid) else {
                close(fd)
                throw ControlClientError(
                    endpoint: endpoint,
                    message:
                        "the process listening there runs as uid \(cred.uid), not as you (uid \(geteuid())) or root: "
                        + "refusing to send it anything. If the gateway runs as that user on purpose, set "
                        + "HOTSWAP_SOCKET_UID=\(cred.uid)")
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

    /// The most a reply may hold (head and body) unless the caller says otherwise: the control API answers in
    /// kilobytes; a peer that sends more is not a gateway. (An MCP result through `/mcp` may be larger: the
    /// benchmark's 50 MB result asks for 64 MiB.)
    public static let maxReplyBytes = 16 << 20

    /// Parses what has arrived: nil while the head is incomplete, `complete` once the whole body is there.
    /// Throws on a reply that is not HTTP/1.1 as RFC 9112 writes it (bad status line, bad or negative lengths,
    /// bad chunk sizes), so a hostile peer gets an error, never a trap.
    static func parse(_ data: [UInt8], limit: Int = maxReplyBytes) throws(ReplyParseError) -> (
        reply: HTTPReply, complete: Bool
    )? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = data.indices.dropLast(3).first(where: { data[$0..<($0 + 4)].elementsEqual(separator) }) else {
            if data.count > 64 * 1024 { throw ReplyParseError("the reply's header is over 64 KiB") }
            return nil
        }
        let head = String(decoding: data[..<end], as: UTF8.self).split(
            separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), statusParts[1].count == 3,
            let status = Int(statusParts[1]), (100...599).contains(status)
        else { throw ReplyParseError("not an HTTP status line: '\(head.first?.prefix(80) ?? "")'") }
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmed()))
        }
        let body = data[(end + 4)...]
        let header = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 }
        if header("transfer-encoding")?.lowercased() == "chunked" {
            let (decoded, done) = try dechunk(body, limit: limit)
            return (HTTPReply(status: status, headers: headers, body: decoded), done)
        }
        if let lengthText = header("content-length") {
            guard let length = decimal(lengthText) else { throw ReplyParseError("bad Content-Length '\(lengthText)'") }
            let complete = body.count >= length
            return (HTTPReply(status: status, headers: headers, body: Array(body.prefix(length))), complete)
        }
        return (HTTPReply(status: status, headers: headers, body: Array(body)), false)
    }

    /// A non-negative decimal of at most 15 digits (no sign, no spaces): a length that cannot overflow.
    private static func decimal(_ text: String) -> Int? {
        guard (1...15).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int(text)
    }

    /// Decodes `Transfer-Encoding: chunked` (RFC 9112 §7.1) as far as it has arrived.
    static func dechunk(_ data: ArraySlice<UInt8>, limit: Int = maxReplyBytes) throws(ReplyParseError) -> (
        [UInt8], Bool
    ) {
        var out: [UInt8] = []
        var i = data.startIndex
        while true {
            guard let lineEnd = data[i...].indices.dropLast().first(where: { data[$0] == 13 && data[$0 + 1] == 10 })
            else {
                if data.endIndex - i > 1024 { throw ReplyParseError("a chunk-size line is over 1 KiB") }
                return (out, false)
            }
            let line = data[i..<lineEnd]
            // The same limit whether the line arrived in one read or several.
            if line.count > 1024 { throw ReplyParseError("a chunk-size line is over 1 KiB") }
            var digits = line.prefix { $0 != UInt8(ascii: ";") }
            // Whitespace may come before a chunk extension (RFC 9112's BWS), never inside the number.
            while let last = digits.last, last == 0x20 || last == 0x09 { digits.removeLast() }
            // At most 15 hex digits: a size below 2^60, so the arithmetic below cannot overflow.
            guard (1...15).contains(digits.count), let size = Int(String(decoding: digits, as: UTF8.self), radix: 16),
                size >= 0, digits.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) })
            else {
                throw ReplyParseError("bad chunk size '\(String(decoding: line.prefix(32), as: UTF8.self))'")
            }
            if size == 0 { return (out, true) }
            let start = lineEnd + 2
            guard size <= limit else { throw ReplyParseError("a chunk of \(size) bytes is over the limit") }
            guard data.endIndex - start >= size + 2 else { return (out, false) }
            out += data[start..<(start + size)]
            guard data[start + size] == 13, data[start + size + 1] == 10 else {
                throw ReplyParseError("a chunk does not end with CRLF")
            }
            i = start + size + 2
        }
    }
}

/// `struct ucred` as SO_PEERCRED fills it (pid_t, uid_t, gid_t); Glibc does not import it without _GNU_SOURCE.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// A reply that is not well-formed HTTP/1.1.
struct ReplyParseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension StringProtocol {
    func trimmed() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
