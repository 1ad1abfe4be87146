import Foundation
import HTTPTypes
import HotswapAPI
import HotswapCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context: Hummingbird's core storage plus the connection, for peer credentials.
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Requests on the control socket arrive on a Unix domain socket.
    var isUnixSocket: Bool {
        if case .unixDomainSocket = channel.localAddress { return true }
        return false
    }
}

public struct GatewayRoutes: Sendable {
    public let registry: Registry
    public let mcp: MCPEndpoint
    public let metrics: GatewayMetrics
    public let authorizer: AdminAuthorizer
    public let limits: HTTPLimits
    public let budget: BodyBudget
    /// Admin bodies have their own budget: they are read only after their token verified, so a flood of
    /// unauthenticated MCP bodies cannot keep a signed reload out.
    public let adminBudget: BodyBudget
    public let allowedOrigins: [String]
    public let startedAt = Date()
    /// Client requests in progress on each connection: a client that drops its connection cancels them.
    public let connections = ConnectionCalls()

    public init(
        registry: Registry, mcp: MCPEndpoint, metrics: GatewayMetrics, authorizer: AdminAuthorizer,
        limits: HTTPLimits = HTTPLimits(), allowedOrigins: [String] = []
    ) {
        self.registry = registry
        self.mcp = mcp
        self.metrics = metrics
        self.authorizer = authorizer
        self.limits = limits
        self.budget = BodyBudget(limit: limits.maxBufferedBytes)
        self.adminBudget = BodyBudget(limit: max(limits.maxBodyBytes * 2, 8 << 20))
        self.allowedOrigins = allowedOrigins
    }

    /// The routes, behind `hosts` (for a TCP listener; nil on the control socket).
    public func router(hosts: HostPolicy? = nil) -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: UnreadBodyMiddleware())
        if let hosts { router.add(middleware: HostCheckMiddleware(policy: hosts)) }
        router.post("/admin/reload") { request, context in try await reload(request, context) }
        router.get("/stats") { _, _ in await stats() }
        router.get("/servers") { _, _ in await servers(nil) }
        router.get("/servers/:id") { _, context in await servers(context.parameters.get("id")) }
        for action in ["stop", "start", "restart"] {
            router.post("/servers/:id/\(action)") { request, context in
                await lifecycle(action, id: context.parameters.get("id") ?? "", request, context)
            }
        }
        router.get("/healthz") { _, _ in Self.json(200, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            registry.isReady
                ? Self.json(200, ["status": "ready"])
                : Self.json(503, ["status": "not ready", "message": "no catalog is live yet"])
        }
        router.get("/metrics") { _, _ in await metricsText() }
        router.post("/mcp") { request, context in try await mcpPost(request, context) }
        router.get("/mcp") { request, context in mcpStream(request, client: Self.clientAddress(context)) }
        router.delete("/mcp") { request, _ in
            if let refusal = originRefusal(request) { return refusal }
            if let refusal = Self.statelessRefusal(request) { return refusal }
            guard let session = request.headers[Self.sessionHeader] else {
                return Self.json(400, ["error": "DELETE /mcp needs the Mcp-Session-Id header"])
            }
            return Self.reply(mcp.delete(sessionID: session))
        }
        return router
    }

    static let sessionHeader = HTTPField.Name("Mcp-Session-Id")!
    static let protocolHeader = HTTPField.Name("MCP-Protocol-Version")!

    // MARK: Admin

    private func reload(_ request: Request, _ context: GatewayContext) async throws -> Response {
        // Authorized from the headers first: a dry run is the route's rehearsal and needs the same token.
        if case .failure(let refusal) = await authorizer.preauthorize(request, context, op: "reload") {
            return Self.refused(refusal)
        }
        let body: BoundedBody
        do {
            body = try await BoundedBody.read(request, channel: context.channel, limits: limits, budget: adminBudget)
        } catch {
            return error.response(context)
        }
        defer { body.release() }
        let dryRun = ["1", "true", "yes"].contains(request.uri.queryParameters.get("dry_run") ?? "")
        let source: ReloadSource = context.isUnixSocket ? .socket : .http
        var bytes = body.bytes.isEmpty ? nil : body.bytes
        if bytes == nil, authorizer.verifier != nil {
            // No body: the gateway's own --config, read now, so the token is checked against exactly the bytes
            // that will be applied, and nothing unverified ever waits in the reload queue.
            switch await registry.readConfig(source: source) {
            case .success(let read): bytes = read
            case .failure(let box): return Self.encode(box.report)
            }
        }
        let expectation = TokenExpectation(op: "reload", sha256: bytes.map(ContentHash.sha256))
        let claims: ReloadClaims?
        switch await authorizer.check(request, context, expectation: expectation) {
        case .failure(let refusal): return Self.refused(refusal)
        case .success(let c): claims = c
        }
        if dryRun { return Self.encode(await registry.dryRun(bytes)) }
        let verifier = authorizer.verifier
        let report = await registry.submit(
            ReloadRequest(
                bytes: bytes, source: source,
                onApplied: { if let verifier, let claims { verifier.recordApplied(claims) } }))
        return Self.encode(report)
    }

    private func stats() async -> Response {
        let live = registry.live
        let report = StatsReport(
            generation: live?.number ?? 0, configSha256: live?.sha256, ready: live != nil,
            servers: live?.backends.count ?? 0, reloads: await registry.reloadCounts, sessions: mcp.sessionCount,
            uptimeSeconds: Date().timeIntervalSince(startedAt), lastReload: await registry.lastReload)
        return Self.encode(report, status: 200)
    }

    private func servers(_ id: String?) async -> Response {
        guard let live = registry.live else {
            return id == nil
                ? Self.encode(ServerList(generation: 0, servers: []), status: 200)
                : Self.json(404, ["error": "no catalog is live"])
        }
        if let id {
            guard let b = live.backend(id) else {
                return Self.json(404, ["error": "no server '\(id)' in generation \(live.number)"])
            }
            return Self.encode(b.report(generation: live.number), status: 200)
        }
        return Self.encode(
            ServerList(generation: live.number, servers: live.backends.map { $0.report(generation: live.number) }),
            status: 200)
    }

    private func lifecycle(_ action: String, id: String, _ request: Request, _ context: GatewayContext) async
        -> Response
    {
        let op = "server.\(action)"
        let claims: ReloadClaims?
        switch await authorizer.check(request, context, expectation: TokenExpectation(op: op, server: id)) {
        case .failure(let refusal): return Self.refused(refusal)
        case .success(let c): claims = c
        }
        guard let backend = registry.live?.backend(id) else {
            return Self.json(404, ["error": "no server '\(id)' in the live catalog"])
        }
        do {
            switch action {
            case "stop": await backend.operatorStop(drainTimeout: backend.definition.drainTimeout.duration)
            case "start": try await backend.operatorStart()
            default: try await backend.operatorRestart(drainTimeout: backend.definition.drainTimeout.duration)
            }
        } catch {
            return Self.encode(
                ServerActionReply(result: "failed", server: id, action: action, error: "\(error)"), status: 409)
        }
        if let claims { authorizer.verifier?.recordApplied(claims) }
        let s = backend.status
        return Self.encode(
            ServerActionReply(result: "ok", server: id, action: action, state: s.state, pid: s.pid), status: 200)
    }

    private func metricsText() async -> Response {
        if let live = registry.live {
            var states: [String: Int] = [:]
            var inflight: [([String: String], Double)] = []
            for b in live.backends {
                let s = b.status
                states[s.state.rawValue, default: 0] += 1
                inflight.append((["server": b.id], Double(s.inFlight)))
            }
            metrics.backends.replaceAll(
                BackendState.allCases.map { (["state": $0.rawValue], Double(states[$0.rawValue] ?? 0)) })
            metrics.inflight.replaceAll(inflight)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.sink.render())))
    }

    // MARK: MCP

    private func mcpPost(_ request: Request, _ context: GatewayContext) async throws -> Response {
        if let refusal = originRefusal(request) { return refusal }
        // Streamable HTTP: a JSON body, and a client that takes both JSON and an event stream as the answer.
        let contentType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(
            in: .whitespaces
        ).lowercased()
        guard contentType == "application/json" else {
            return Self.json(
                415, ["error": .string("POST /mcp takes Content-Type: application/json, not '\(contentType ?? "")'")])
        }
        guard Self.acceptsBoth(request.headers[.accept]) else {
            return Self.json(
                406, ["error": "POST /mcp needs Accept: application/json, text/event-stream (both, per the MCP spec)"])
        }
        let body: BoundedBody
        do {
            body = try await BoundedBody.read(request, channel: context.channel, limits: limits, budget: budget)
        } catch {
            return error.response(context)
        }
        defer { body.release() }
        let channel = context.channel
        let connections = self.connections
        var routing: [String: String] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix("mcp-") {
            routing[field.name.canonicalName] = field.value
        }
        let reply = await mcp.post(
            body: body.bytes, sessionID: request.headers[Self.sessionHeader],
            protocolVersion: request.headers[Self.protocolHeader], headers: routing,
            client: Self.clientAddress(context),
            began: { exchange in
                connections.watch(channel, exchange)
                // Gone before the watch began: nothing will tell the watch.
                if !channel.isActive { connections.hungUp(channel) }
            })
        if let listen = reply.listen { return listenStream(listen, channel: channel) }
        guard let exchange = reply.stream else {
            if let call = reply.call { connections.unwatch(channel, call) }
            return Self.reply(reply)
        }
        // The call sent something before its answer: progress, a log message, a server's request. The answer
        // is an event stream of those, then the reply (even a cancelled request's: a stream that ends without
        // one has an SDK client reconnect to resume it, which the gateway cannot); a client that goes away
        // cancels the call.
        return Self.eventStream(onEnd: { connections.unwatch(channel, exchange) }) { send in
            do {
                try await exchange.forEachMessage(send)
            } catch {
                exchange.cancel()
                throw error
            }
        }
    }

    /// A `subscriptions/listen` stream (2026-07-28): its acknowledgement, then list changes and resource
    /// updates, until the client closes it (which ends its subscriptions).
    private func listenStream(_ listen: ListenStream, channel: any Channel) -> Response {
        let streams = mcp.streams
        let connections = self.connections
        let key = listen.id.uuidString
        let end: @Sendable () -> Void = {
            streams.close(listen.id)
            _ = streams.dropSubscriptions(of: listen.session)
        }
        connections.watch(channel, key: key, onHangUp: end)
        if !channel.isActive { connections.hungUp(channel) }
        return Self.eventStream(
            onEnd: {
                connections.unwatch(channel, key: key)
                end()
            }
        ) { send in
            try await send(listen.first)
            for await message in listen.messages { try await send(message) }
        }
    }

    /// A `text/event-stream` answer: what `produce` sends, one event each (with an id), after `preamble`;
    /// `onEnd` runs however the stream ends (done, client gone, shutdown).
    static func eventStream(
        preamble: String? = nil, onEnd: @escaping @Sendable () -> Void,
        _ produce: @escaping @Sendable (_ send: (JSONValue) async throws -> Void) async throws -> Void
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { onEnd() }
                if let preamble { try await writer.write(ByteBuffer(string: preamble)) }
                try await produce { message in
                    try await writer.write(ByteBuffer(string: SessionStreams.event(message)))
                }
                try await writer.finish(nil)
            })
    }

    /// Whether an Accept header takes both `application/json` and `text/event-stream` (wildcards count).
    static func acceptsBoth(_ accept: String?) -> Bool {
        let types = (accept ?? "").lowercased().split(separator: ",").map {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? ""
        }
        let any = types.contains("*/*")
        let json = any || types.contains("application/json") || types.contains("application/*")
        let sse = any || types.contains("text/event-stream") || types.contains("text/*")
        return json && sse
    }

    /// Who a session belongs to, for the per-client cap: the peer's IP address, or the control socket.
    static func clientAddress(_ context: GatewayContext) -> String {
        if context.isUnixSocket { return "unix" }
        return context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// 403 for a browser page of an origin that is not allowed; nil when the request may go on.
    private func originRefusal(_ request: Request) -> Response? {
        guard let origin = request.headers[.origin], !originAllowed(origin) else { return nil }
        return Self.json(403, ["error": .string("origin '\(origin)' is not allowed (--allow-origin)")])
    }

    /// `GET /mcp`: a server-sent event stream for a session, carrying `notifications/tools/list_changed`
    /// after swaps that change the tool set. It ends when the session is deleted or the gateway shuts down.
    private func mcpStream(_ request: Request, client: String) -> Response {
        if let refusal = originRefusal(request) { return refusal }
        if let refusal = Self.statelessRefusal(request) { return refusal }
        guard let accept = request.headers[.accept], accept.contains("text/event-stream") else {
            return Self.json(405, ["error": "GET /mcp opens an event stream: send Accept: text/event-stream"])
        }
        guard let session = request.headers[Self.sessionHeader] else {
            return Self.json(400, ["error": "GET /mcp needs the Mcp-Session-Id header; initialize first"])
        }
        guard mcp.hasSession(session, client: client) else {
            return Self.json(404, ["error": "unknown or expired Mcp-Session-Id; initialize again"])
        }
        guard let (id, stream) = mcp.streams.open(session: session) else {
            return Self.json(503, ["error": "the gateway is shutting down"])
        }
        let streams = mcp.streams
        return Self.eventStream(preamble: ": hotswap event stream\n\n", onEnd: { streams.close(id) }) { send in
            for await message in stream { try await send(message) }
        }
    }

    /// 2026-07-28 has no session stream and no session to delete: `GET` and `DELETE` are 405.
    static func statelessRefusal(_ request: Request) -> Response? {
        guard let version = request.headers[protocolHeader], MCPEndpoint.statelessVersions.contains(version) else {
            return nil
        }
        var response = json(405, ["error": .string("revision \(version) has no GET or DELETE on /mcp; POST only")])
        response.headers[.allow] = "POST"
        return response
    }

    /// DNS-rebinding protection: browsers send Origin; only loopback origins and `--allow-origin` pass.
    private func originAllowed(_ origin: String) -> Bool {
        if allowedOrigins.contains(origin) || allowedOrigins.contains("*") { return true }
        guard let host = URLComponents(string: origin)?.host else { return false }
        return ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host)
    }

    // MARK: Encoding

    static func json(_ status: Int, _ body: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        var bytes = body.serialized
        bytes.append(0x0A)
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func encode(_ report: ReloadReport) -> Response { encode(report, status: report.httpStatus) }

    /// A wire type of the control API as the JSON body.
    static func encode(_ body: some Encodable, status: Int) -> Response {
        json(status, (try? JSONValue(encoding: body)) ?? [:])
    }

    static func refused(_ r: AdminAuthorizer.Refusal) -> Response {
        json(r.status, ["result": "refused", "reason": .string(r.reason), "message": .string(r.message)])
    }

    static func reply(_ reply: MCPEndpoint.Reply) -> Response {
        var headers = HTTPFields()
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        guard let body = reply.body else { return Response(status: .init(code: reply.status), headers: headers) }
        headers[.contentType] = "application/json"
        return Response(
            status: .init(code: reply.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
    }
}

/// The client requests in progress on each connection, so that a client that closes its connection (the
/// process died, the user pressed stop) cancels them, and the servers behind them are told. While a response is
/// being made nobody reads the connection, so its end is seen by `HangUpHandler` in the pipeline, not by a read.
public final class ConnectionCalls: Sendable {
    private let calls = Mutex<[ObjectIdentifier: [String: @Sendable () -> Void]]>([:])

    public init() {}

    /// Runs `onHangUp` if the client closes the connection before `unwatch(channel, key)`.
    func watch(_ channel: any Channel, key: String, onHangUp: @escaping @Sendable () -> Void) {
        calls.withLock { c in c[ObjectIdentifier(channel), default: [:]][key] = onHangUp }
    }

    func watch(_ channel: any Channel, _ exchange: CallExchange) {
        watch(channel, key: Self.key(exchange)) { exchange.cancel() }
    }

    /// The request has been answered.
    func unwatch(_ channel: any Channel, key: String) {
        calls.withLock { c in
            let id = ObjectIdentifier(channel)
            _ = c[id]?.removeValue(forKey: key)
            if c[id]?.isEmpty == true { c[id] = nil }
        }
    }

    func unwatch(_ channel: any Channel, _ exchange: CallExchange) { unwatch(channel, key: Self.key(exchange)) }

    static func key(_ exchange: CallExchange) -> String { "\(ObjectIdentifier(exchange))" }

    /// The client closed the connection (or its sending half): what it asked for is cancelled.
    func hungUp(_ channel: any Channel) {
        let orphaned = calls.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } ?? [:]
        for cancel in orphaned.values { cancel() }
    }

    /// A handler for one new connection's pipeline.
    public func handler() -> any RemovableChannelHandler { HangUpHandler(calls: self) }

    private final class HangUpHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        let calls: ConnectionCalls

        init(calls: ConnectionCalls) { self.calls = calls }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .inputClosed? = event as? ChannelEvent { calls.hungUp(context.channel) }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            calls.hungUp(context.channel)
            context.fireChannelInactive()
        }
    }
}
