import Foundation
import HTTPTypes
import HotswapCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Limits that keep one client from exhausting the gateway before it has proved anything: connections,
/// buffered request bytes, and time.
public struct HTTPLimits: Sendable {
    /// Open TCP client connections; beyond it new ones are closed at once. Nil: derived at start from the
    /// descriptor limit (`raiseDescriptorLimit()`), less a reserve for servers' pipes and the control socket.
    public var maxConnections: Int?
    /// A connection with no request in progress is closed after this long (default 60 s).
    public var idleTimeout: Duration = .seconds(60)
    /// A request body must arrive within this long (default 30 s): slow bodies (slowloris) are cut off.
    public var bodyTimeout: Duration = .seconds(30)
    /// The largest body of one request (default 4 MiB, the catalog limit).
    public var maxBodyBytes: Int = 4 << 20
    /// Request bytes buffered at once across every connection (default 64 MiB); beyond it, 503.
    public var maxBufferedBytes: Int = 64 << 20

    public init(maxConnections: Int? = nil) {
        self.maxConnections = maxConnections
    }

    /// Connections the control socket takes besides `maxConnections` (its own allowance: local operators and the
    /// sidecar still get in while TCP clients are at their limit).
    public static let controlSocketConnections = 64

    /// Descriptors held back from client connections (a quarter of a small limit): backends' pipes, catalog and
    /// key reads, event fds.
    public static let descriptorReserve = 256

    /// Raises the soft descriptor limit to the hard one (a container's default soft limit of 1,024 is an easy
    /// target) and returns the soft limit now in force. Called once, when the gateway starts.
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, 1 << 20))  // RLIM_INFINITY is the largest value: capped too
    }

    /// The TCP connections a soft descriptor limit leaves room for, after `descriptorReserve` (a quarter of a
    /// small limit) and the control socket's own allowance.
    public static func connections(forDescriptorLimit soft: Int) -> Int {
        max(16, min(100_000, soft - min(descriptorReserve, soft / 4) - controlSocketConnections))
    }
}

/// Counts open client connections and closes the ones beyond the limit as they arrive, so the gateway never
/// runs out of descriptors: the connections it has keep being served. Says so once per episode in the log.
public final class ConnectionLimiter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)
    private let warned = Atomic<Bool>(false)
    private let logger: Logger

    public init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    public var openConnections: Int { open.load(ordering: .relaxed) }

    /// A handler for one new connection's pipeline.
    func handler() -> any RemovableChannelHandler { Handler(limiter: self) }

    fileprivate func admit() -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        if now <= limit {
            if now < limit / 10 * 9 { warned.store(false, ordering: .relaxed) }
            return true
        }
        open.subtract(1, ordering: .relaxed)
        if !warned.exchange(true, ordering: .relaxed) {
            logger.warning(
                "connection limit reached: new client connections are closed until some end",
                metadata: ["limit": "\(limit)", "hint": "raise the descriptor limit (ulimit -n) or --max-connections"])
        }
        return false
    }

    fileprivate func left() { open.subtract(1, ordering: .relaxed) }

    private final class Handler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        let limiter: ConnectionLimiter
        private let admitted = Atomic<Bool>(false)

        init(limiter: ConnectionLimiter) { self.limiter = limiter }

        func handlerAdded(context: ChannelHandlerContext) {
            if limiter.admit() {
                admitted.store(true, ordering: .relaxed)
            } else {
                context.close(promise: nil)
            }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if admitted.exchange(false, ordering: .relaxed) { limiter.left() }
        }
    }
}

/// Request bytes buffered across every connection, so many slow or large bodies together cannot exhaust memory.
public final class BodyBudget: Sendable {
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    func reserve(_ bytes: Int) -> Bool {
        let now = used.add(bytes, ordering: .relaxed).newValue
        if now <= limit { return true }
        used.subtract(bytes, ordering: .relaxed)
        return false
    }

    func release(_ bytes: Int) { used.subtract(bytes, ordering: .relaxed) }

    public var buffered: Int { used.load(ordering: .relaxed) }
}

/// Why a body was not read.
enum BodyFailure: Error {
    case tooLarge(limit: Int)
    case busy
    case timeout(Duration)
    case broken

    /// The answer; the connection's input is closed with it, so the client stops sending and fails at once
    /// instead of waiting out its own timeout with a body nobody reads.
    func response(_ context: GatewayContext) -> Response {
        context.channel.close(mode: .input, promise: nil)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.connection] = "close"
        let (status, body): (Int, JSONValue)
        switch self {
        case .tooLarge(let limit):
            (status, body) = (
                413,
                ["result": "rejected", "reason": "too_large", "message": .string("the body is over \(limit) bytes")]
            )
        case .busy:
            headers[.retryAfter] = "1"
            (status, body) = (503, ["reason": "busy", "message": "too many request bytes in flight; try again"])
        case .timeout(let limit):
            (status, body) = (
                408, ["reason": "timeout", "message": .string("the body did not arrive within \(limit)")]
            )
        case .broken:
            (status, body) = (400, ["reason": "broken", "message": "the body could not be read"])
        }
        return Response(
            status: .init(code: status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body.serialized + [0x0A])))
    }
}

/// A request body read within the limits; its bytes count against the budget until `release()`.
struct BoundedBody: Sendable {
    var bytes: [UInt8]
    let budget: BodyBudget
    private let reserved: Int

    func release() { budget.release(reserved) }

    /// Reads the body: refused at once when its Content-Length is over `limits.maxBodyBytes`, cut off when it
    /// grows past it, when the budget is spent, or when it does not arrive within `limits.bodyTimeout`.
    static func read(_ request: Request, channel: any Channel, limits: HTTPLimits, budget: BodyBudget)
        async throws(BodyFailure) -> BoundedBody
    {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limits.maxBodyBytes {
            throw .tooLarge(limit: limits.maxBodyBytes)
        }
        // The deadline is a timer on the connection's event loop, not a task racing the reader: a request costs
        // no tasks beyond the handler's own. When it fires it closes the input, which ends the reader's loop.
        let timedOut = Atomic<Bool>(false)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(limits.bodyTimeout)) {
            timedOut.store(true, ordering: .relaxed)
            channel.close(mode: .input, promise: nil)
        }
        defer { timer.cancel() }
        var bytes: [UInt8] = []
        var reserved = 0
        let outcome: Result<([UInt8], Int), BodyFailure>
        do {
            for try await chunk in request.body {
                let n = chunk.readableBytes
                guard bytes.count + n <= limits.maxBodyBytes else {
                    throw BodyFailure.tooLarge(limit: limits.maxBodyBytes)
                }
                guard budget.reserve(n) else { throw BodyFailure.busy }
                reserved += n
                bytes += chunk.readableBytesView
            }
            outcome =
                timedOut.load(ordering: .relaxed) ? .failure(.timeout(limits.bodyTimeout)) : .success((bytes, reserved))
        } catch let failure as BodyFailure {
            outcome = .failure(failure)
        } catch {
            outcome = .failure(timedOut.load(ordering: .relaxed) ? .timeout(limits.bodyTimeout) : .broken)
        }
        if case .failure = outcome {
            budget.release(reserved)
            // A body still trickling in ends here.
            channel.close(mode: .input, promise: nil)
        }
        switch outcome {
        case .success(let (bytes, reserved)):
            // The budget bounds bytes buffered while bodies arrive (what an unauthenticated client can hold);
            // once a body is whole it is the request's, and its reservation goes back at once.
            budget.release(reserved)
            return BoundedBody(bytes: bytes, budget: budget, reserved: 0)
        case .failure(let failure): throw failure
        }
    }

    private init(bytes: [UInt8], budget: BodyBudget, reserved: Int) {
        self.bytes = bytes
        self.budget = budget
        self.reserved = reserved
    }
}

/// DNS-rebinding protection for a loopback listener: a page on evil.example that resolves its name to 127.0.0.1
/// sends `Host: evil.example`; only the loopback names (any port) and `--allow-host` pass, like the MCP SDKs'
/// servers. Listeners on other addresses check only when `--allow-host` names hosts.
public struct HostPolicy: Sendable {
    public var allowed: [String]
    public var loopbackOnly: Bool

    public init(listenHost: String, allowed: [String]) {
        self.allowed = allowed.map { $0.lowercased() }
        let h = listenHost.lowercased()
        loopbackOnly = h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// Whether a request with this `Host` header may be served.
    public func permits(_ host: String?) -> Bool {
        guard loopbackOnly || !allowed.isEmpty else { return true }
        guard let host = host?.lowercased(), !host.isEmpty else { return false }
        if allowed.contains(host) || allowed.contains("*") { return true }
        let name = Self.stripPort(host)
        if allowed.contains(name) { return true }
        return loopbackOnly && ["localhost", "127.0.0.1", "[::1]", "::1"].contains(name)
    }

    static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return host }
            return String(host[...close])
        }
        guard let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon,
            host[host.index(after: colon)...].allSatisfy(\.isNumber)
        else { return host }
        return String(host[..<colon])
    }
}

/// Refuses requests whose `Host` the policy does not permit (421), on TCP listeners only.
struct HostCheckMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let policy: HostPolicy

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if !context.isUnixSocket, !policy.permits(request.head.authority) {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let body: JSONValue = [
                "reason": "misdirected",
                "message": .string(
                    "Host '\(request.head.authority ?? "")' is not this gateway's; allow it with --allow-host"),
            ]
            return Response(
                status: .misdirectedRequest, headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: body.serialized + [0x0A])))
        }
        return try await next(request, context)
    }
}

/// Ends the connection after any answer that leaves a request body unread (a refusal, or a route that takes no
/// body): otherwise the server would go on reading and discarding whatever the client trickles in, with no time
/// limit, and one client could hold connections forever. The routes that read bodies read them within
/// `BoundedBody`'s limits, and close on failure themselves.
struct UnreadBodyMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        let declaresBody =
            (request.headers[.contentLength].flatMap(Int.init) ?? 0) > 0 || request.headers[.transferEncoding] != nil
        guard declaresBody else { return response }
        let readsBody =
            request.method == .post && (request.uri.path == "/mcp" || request.uri.path == "/admin/reload")
        if !readsBody || response.status.code >= 400 {
            response.headers[.connection] = "close"
            context.channel.close(mode: .input, promise: nil)
        }
        return response
    }
}
