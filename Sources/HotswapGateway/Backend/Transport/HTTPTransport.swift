import AsyncHTTPClient
import Foundation
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// MCP's Streamable HTTP transport, as a client, for remote servers (`runtime.type: remote`).
///
/// Each message is a `POST` to the server's URL with the catalog's headers; the answer is plain JSON or an
/// event stream whose events are the server's messages (its progress and requests, then the response). The
/// session id from `initialize` goes on every later request, a `GET` stream carries what the server sends
/// outside requests (when it offers one), and stopping sends `DELETE`. A 2026-07-28 session has neither:
/// each request carries its revision and `Mcp-Method`/`Mcp-Name`, and closing a request's stream cancels it.
///
/// Failures say what failed: a server that cannot be reached ends the link (the backend backs off and
/// reconnects with a new session, as a crashed process restarts), and so does one that forgot the session
/// (HTTP 404); an HTTP error answers only the request it was for.
public final class HTTPTransport: BackendTransport {
    public var maxMessageBytes: Int { LineHandler.defaultMaxLine }

    let client: HTTPClient
    let url: String
    /// The URL as the catalog wrote it, `${VAR}` unexpanded: what messages quote.
    let shownURL: String
    let headers: [(String, String)]
    let events: TransportEvents
    let logger: Logger

    private struct State {
        var sessionID: String?
        var protocolVersion: String?
        var closed = false
        var ended: (@Sendable (String) -> Void)?
        var endReason: String?
        /// Requests in flight, by JSON-RPC id (a cancellation closes its stream), and other sends.
        var requests: [JSONValue: Task<Void, Never>] = [:]
        var others: [Int: Task<Void, Never>] = [:]
        var nextOther = 0
        /// The session's GET stream, once opened.
        var listenTask: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let shutdownDone = SharedOutcome<Void>()
    private let shutdownStarted = Atomic<Bool>(false)

    init(
        client: HTTPClient, url: String, shownURL: String, headers: [String: String], events: TransportEvents,
        logger: Logger
    ) {
        self.client = client
        self.url = url
        self.shownURL = shownURL
        self.headers = headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.events = events
        self.logger = logger
    }

    /// What runs once the link ends on its own (the server cannot be reached, or it forgot the session).
    public func onEnd(_ body: @escaping @Sendable (String) -> Void) {
        let ended = state.withLock { s -> String? in
            s.ended = body
            return s.endReason
        }
        if let ended { body(ended) }
    }

    public func send(_ bytes: [UInt8], message: JSONValue, failed: @escaping @Sendable (String) -> Void) {
        let method = message["method"]?.stringValue
        let id = method != nil ? message["id"] : nil
        if method == "notifications/cancelled", let target = message["params"]?["requestId"] {
            // Closing the request's stream is the cancellation in 2026-07-28 and does no harm before it.
            let (task, modern) = state.withLock { s in
                (
                    s.requests.removeValue(forKey: target),
                    MCPEndpoint.statelessVersions.contains(s.protocolVersion ?? "")
                )
            }
            task?.cancel()
            if modern { return }
        }
        let work: @Sendable () async -> Void = { [self] in
            await post(bytes, message: message, method: method, id: id, failed: failed)
        }
        state.withLock { s in
            guard !s.closed else { return }
            if let id {
                s.requests[id] = Task {
                    await work()
                    _ = self.state.withLock { $0.requests.removeValue(forKey: id) }
                }
            } else {
                s.nextOther += 1
                let key = s.nextOther
                s.others[key] = Task {
                    await work()
                    _ = self.state.withLock { $0.others.removeValue(forKey: key) }
                }
            }
        }
    }

    public func close() {
        Task { await shutdown() }
    }

    /// Ends the session (`DELETE`, when the server gave one), cancels what is in flight and closes the client;
    /// `events.closed` follows. Idempotent: every caller waits for the one shutdown.
    public func shutdown() async {
        guard !shutdownStarted.exchange(true, ordering: .relaxed) else {
            _ = await shutdownDone.wait()
            return
        }
        let (session, version, tasks) = state.withLock { s -> (String?, String?, [Task<Void, Never>]) in
            s.closed = true
            defer {
                s.requests = [:]
                s.others = [:]
                s.listenTask = nil
            }
            let listen = s.listenTask.map { [$0] } ?? []
            return (s.sessionID, s.protocolVersion, Array(s.requests.values) + Array(s.others.values) + listen)
        }
        for task in tasks { task.cancel() }
        if let session {
            var request = HTTPClientRequest(url: url)
            request.method = .DELETE
            addHeaders(&request, session: session, version: version)
            _ = try? await client.execute(request, timeout: .seconds(2)).body.collect(upTo: 1 << 16)
        }
        try? await client.shutdown()
        events.closed("disconnected")
        shutdownDone.complete(.success(()))
    }

    // MARK: Sending

    private func addHeaders(_ request: inout HTTPClientRequest, session: String?, version: String?) {
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let session { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: session) }
        if let version { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: version) }
    }

    private func post(
        _ bytes: [UInt8], message: JSONValue, method: String?, id: JSONValue?,
        failed: @escaping @Sendable (String) -> Void
    ) async {
        let (session, negotiated) = state.withLock { ($0.sessionID, $0.protocolVersion) }
        // A 2026-07-28 request names its revision in `_meta`; the older ones use what `initialize` agreed.
        let version = message["params"]?["_meta"]?[MCPEndpoint.metaVersion]?.stringValue ?? negotiated
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        addHeaders(&request, session: session, version: method == "initialize" ? nil : version)
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        if let version, MCPEndpoint.statelessVersions.contains(version), let method {
            request.headers.replaceOrAdd(name: "Mcp-Method", value: method)
            if let name = message["params"]?["name"]?.stringValue ?? message["params"]?["uri"]?.stringValue,
                ["tools/call", "prompts/get", "resources/read"].contains(method)
            {
                request.headers.replaceOrAdd(name: "Mcp-Name", value: name)
            }
        }
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response: HTTPClientResponse
        do {
            // The deadline covers the answer's head; a long call streams, or RPCSession times it out.
            response = try await client.execute(request, deadline: .now() + .hours(24), logger: nil)
        } catch {
            if Task.isCancelled { return }
            let reason = describe(error)
            let ended = markEnded(reason)
            failed(reason)
            ended?(reason)
            return
        }
        let status = response.status.code
        if method == "initialize", let sid = response.headers.first(name: "mcp-session-id") {
            state.withLock { $0.sessionID = sid }
        }
        if status == 404, session != nil, method != "initialize" {
            let reason = sessionLost
            let ended = markEnded(reason)
            failed(reason)
            ended?(reason)
            return
        }
        let contentType = response.headers.first(name: "content-type")?.lowercased() ?? ""
        let success = (200..<300).contains(status)
        do {
            if contentType.hasPrefix("text/event-stream") && success {
                // Each event goes up as it is (the session parses it once); a request whose stream ends without
                // its answer fails, which the session ignores when the answer was among the events.
                try await stream(response.body)
                if id != nil, !Task.isCancelled { failed("\(shownURL) ended its event stream before it answered") }
            } else {
                let body = Array(try await response.body.collect(upTo: maxMessageBytes).readableBytesView)
                if success && method != "initialize" {
                    // The answer as it is, unless it is plainly not JSON (the session parses it once).
                    if let first = body.first(where: { $0 > 0x20 }),
                        first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
                    {
                        events.message(body)
                    } else if id != nil {
                        failed("\(shownURL) answered HTTP \(status) without a JSON-RPC message")
                    }
                } else if let answer = try? JSONValue.parse(body), answer["jsonrpc"] != nil {
                    // `initialize`'s answer says the revision; an error answer is still JSON-RPC when it parses
                    // as such (2026-07-28 sends -32022 with 400).
                    remember(answer, to: method)
                    events.message(body)
                } else if !success {
                    failed(Self.explain(status: response.status, url: shownURL, body: body))
                } else if id != nil {
                    failed("\(shownURL) answered HTTP \(status) without a JSON-RPC message")
                }
            }
        } catch {
            if Task.isCancelled { return }
            failed("\(shownURL): the answer broke off: \(describe(error))")
            return
        }
        if method == "notifications/initialized", (200..<300).contains(status) { openListenStream() }
    }

    /// Notes what `initialize` agreed on.
    private func remember(_ answer: JSONValue, to method: String?) {
        guard method == "initialize", let version = answer["result"]?["protocolVersion"]?.stringValue else { return }
        state.withLock { $0.protocolVersion = version }
    }

    /// Delivers each event of a stream as a message, in order.
    private func stream(_ body: HTTPClientResponse.Body) async throws {
        var parser = SSEParser(maxEventBytes: maxMessageBytes)
        for try await chunk in body {
            for event in parser.feed(chunk.readableBytesView) where event.name == "message" && !event.data.isEmpty {
                events.message(event.data)
            }
        }
    }

    /// The session's `GET` stream, for what the server sends outside requests; reopened while the link lives,
    /// given up when the server offers none (405).
    private func openListenStream() {
        state.withLock { s in
            guard !s.closed, s.listenTask == nil else { return }
            s.listenTask = Task { [self] in await listenLoop() }
        }
    }

    private func listenLoop() async {
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            let (session, version) = state.withLock { ($0.sessionID, $0.protocolVersion) }
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            addHeaders(&request, session: session, version: version)
            request.headers.replaceOrAdd(name: "Accept", value: "text/event-stream")
            do {
                let response = try await client.execute(request, deadline: .now() + .seconds(30), logger: nil)
                switch response.status.code {
                case 200..<300:
                    delay = .seconds(1)
                    try await stream(response.body)
                case 404 where session != nil:
                    end(sessionLost)
                    return
                default:
                    // 405: the server sends nothing outside requests.
                    logger.debug("no GET stream", metadata: ["status": "\(response.status.code)"])
                    return
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("GET stream broke off", metadata: ["error": "\(describe(error))"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(30))
        }
    }

    private var sessionLost: String { "\(shownURL) no longer knows the session (HTTP 404); starting a new one" }

    /// The link ends on its own: the backend reconnects with backoff, as after a crash.
    private func end(_ reason: String) {
        markEnded(reason)?(reason)
    }

    /// Notes that the link ended (so `hasEnded` is true before the failed send hears of it); returns what to
    /// call with the reason, once.
    private func markEnded(_ reason: String) -> (@Sendable (String) -> Void)? {
        state.withLock { s -> (@Sendable (String) -> Void)? in
            guard s.endReason == nil, !s.closed else { return nil }
            s.endReason = reason
            return s.ended ?? { _ in }
        }
    }

    /// Whether the link ended on its own (the server could not be reached, or forgot the session).
    public var hasEnded: Bool { state.withLock { $0.endReason != nil } }

    // MARK: Messages

    /// What went wrong reaching the server, in words an operator can act on.
    func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "\(shownURL): connecting timed out"
            case .deadlineExceeded: return "\(shownURL): no answer in time"
            case .remoteConnectionClosed: return "\(shownURL) closed the connection"
            default: break
            }
        }
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "\(shownURL): connection refused (is the server running?)"
        }
        if error is NIOSSLError || text.contains("SSL") || text.contains("TLS") || text.contains("certificate") {
            return
                "\(shownURL): TLS failed (\(text)); trust its CA with `tls.ca_file` in the catalog or the gateway's --ca-file"
        }
        return "\(shownURL): \(text)"
    }

    static func explain(status: HTTPResponseStatus, url: String, body: [UInt8]) -> String {
        let detail = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let what = "\(url) answered HTTP \(status.code) \(status.reasonPhrase)" + (detail.isEmpty ? "" : ": \(detail)")
        switch status.code {
        case 401, 403: return what + " (check the server's `headers`, e.g. its bearer token)"
        default: return what
        }
    }
}

extension HTTPTransport {
    /// A transport to an MCP endpoint with an HTTP client of its own (system CAs), for clients of the gateway
    /// such as `hotswap connect`. `url` may be `http+unix://<percent-encoded socket path>/mcp`.
    public static func client(
        url: String, headers: [String: String], group: any EventLoopGroup, logger: Logger, events: TransportEvents
    ) -> HTTPTransport {
        HTTPTransport(
            client: makeClient(group: group, tls: .makeClientConfiguration()), url: url, shownURL: url,
            headers: headers, events: events, logger: logger)
    }

    /// The HTTP client of one transport. A refused connection or a bad certificate is reported at once (the
    /// backend backs off and says why) rather than retried until the connect timeout hides the reason.
    static func makeClient(group: any EventLoopGroup, tls: TLSConfiguration) -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }
}

/// Remote servers (`runtime.type: remote`): a link is an HTTP client of its own (its TLS trust is the
/// server's) and the transport above; it ends when the server cannot be reached or forgets the session.
public struct RemoteLauncher: BackendLauncher {
    let group: any EventLoopGroup
    /// Trusted for every remote besides the system's CAs (`--ca-file`); a server's `tls.ca_file` adds its own.
    let caFiles: [String]

    public init(group: any EventLoopGroup, caFiles: [String] = []) {
        self.group = group
        self.caFiles = caFiles
    }

    /// The `--ca-file` check at start: each file must hold PEM certificates. (They are read again at every
    /// connection, so a rotated CA file is picked up.) The error names the file and what is wrong.
    public static func checkCAFiles(_ files: [String]) throws(BackendError) {
        for file in files {
            do { _ = try FileIO.read(file, limit: 16 << 20) } catch {
                throw BackendError(.startFailed, error.description)
            }
            do {
                guard !(try NIOSSLCertificate.fromPEMFile(file)).isEmpty else {
                    throw BackendError(.startFailed, "\(file) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
                }
            } catch let error as BackendError {
                throw error
            } catch {
                throw BackendError(
                    .startFailed,
                    "\(file) is not PEM certificates (\(error)): give the CA's certificate, -----BEGIN CERTIFICATE-----"
                )
            }
        }
    }

    public func launch(
        _ server: ServerDefinition, environment: [String: String], logger: Logger, events: TransportEvents
    ) async throws -> any BackendLink {
        guard case .remote(let remote) = server.runtime else {
            throw BackendError(.startFailed, "server '\(server.id)' is not a remote server")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        let trusted =
            caFiles.map { ($0, "the gateway's --ca-file") } + (remote.caFile.map { [($0, "tls.ca_file")] } ?? [])
        for (file, named) in trusted {
            do {
                tls.additionalTrustRoots.append(.certificates(try NIOSSLCertificate.fromPEMFile(file)))
            } catch {
                throw BackendError(.startFailed, "server '\(server.id)': cannot read \(named) '\(file)': \(error)")
            }
        }
        let client = HTTPTransport.makeClient(group: group, tls: tls)
        var serverLogger = logger
        serverLogger[metadataKey: "server.url"] = "\(remote.urlAsWritten.value)"
        let transport = HTTPTransport(
            client: client, url: remote.url, shownURL: remote.urlAsWritten.value, headers: remote.headers,
            events: events, logger: serverLogger)
        logger.info("connecting", metadata: ["server.url": "\(remote.urlAsWritten.value)"])
        return RemoteLink(transport: transport)
    }
}

/// A remote server's link: no process, only the HTTP session.
final class RemoteLink: BackendLink {
    let http: HTTPTransport
    var transport: any BackendTransport { http }
    var pid: Int32? { nil }

    init(transport: HTTPTransport) { self.http = transport }

    func onEnd(_ body: @escaping @Sendable (String) -> Void) { http.onEnd(body) }

    func reap() { http.close() }

    func terminate(grace: Duration) async -> String {
        await http.shutdown()
        return "disconnected"
    }
}
