import Foundation
import HotswapAPI
import HotswapCore

/// A typed async client of the control API: the CLI, the sidecar and the benchmarks read the gateway's answers
/// through these types, never by string keys.
public struct ControlAPIClient: Sendable {
    public var endpoint: ControlEndpoint
    public var timeoutSeconds: Int

    public init(endpoint: ControlEndpoint, timeoutSeconds: Int = 120) {
        self.endpoint = endpoint
        self.timeoutSeconds = timeoutSeconds
    }

    /// An answer the gateway gave: its HTTP status and its decoded body.
    public struct Answer<Body: Sendable>: Sendable {
        public var status: Int
        public var body: Body
    }

    /// A reply whose body is not what the route promises (another program on the socket, a proxy's error page).
    public struct UnexpectedReply: Error, Sendable, CustomStringConvertible {
        public var status: Int
        public var text: String
        public var description: String { "HTTP \(status): \(text.prefix(300))" }
    }

    /// `POST /admin/reload`: the bytes to apply (nil: the gateway re-reads its `--config`), with a token.
    public func reload(_ bytes: [UInt8]?, token: String? = nil, dryRun: Bool = false) async throws
        -> Answer<ReloadReport>
    {
        try await send(
            "POST", dryRun ? "/admin/reload?dry_run=1" : "/admin/reload", token: token, body: bytes ?? [],
            as: ReloadReport.self)
    }

    /// `GET /stats`.
    public func stats() async throws -> StatsReport {
        try await send("GET", "/stats", as: StatsReport.self).body
    }

    /// `GET /servers`.
    public func servers() async throws -> ServerList {
        try await send("GET", "/servers", as: ServerList.self).body
    }

    /// `GET /servers/{id}`; nil when the live catalog has no such server.
    public func server(_ id: String) async throws -> ServerReport? {
        let reply = try await raw("GET", "/servers/\(id)")
        if reply.status == 404 { return nil }
        return try Self.decode(ServerReport.self, reply)
    }

    /// `POST /servers/{id}/{action}`.
    public func serverAction(_ action: String, id: String, token: String? = nil) async throws
        -> Answer<ServerActionReply>
    {
        try await send("POST", "/servers/\(id)/\(action)", token: token, as: ServerActionReply.self)
    }

    /// The raw reply, for callers that print the gateway's answer as it is (`--format json`).
    public func raw(_ method: String, _ path: String, token: String? = nil, body: [UInt8] = []) async throws
        -> HTTPReply
    {
        let (endpoint, timeout) = (self.endpoint, timeoutSeconds)
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        return try await onOwnThread {
            try ControlClient.request(
                endpoint, method: method, path: path, headers: headers, body: body, timeoutSeconds: timeout)
        }
    }

    private func send<T: Decodable & Sendable>(
        _ method: String, _ path: String, token: String? = nil, body: [UInt8] = [], as type: T.Type
    ) async throws -> Answer<T> {
        let reply = try await raw(method, path, token: token, body: body)
        return Answer(status: reply.status, body: try Self.decode(type, reply))
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ reply: HTTPReply) throws -> T {
        do {
            return try JSONValue.decode(type, from: reply.body)
        } catch {
            throw UnexpectedReply(status: reply.status, text: reply.text)
        }
    }
}

/// Runs blocking socket I/O on a thread of its own rather than a thread of Swift's small cooperative pool.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
