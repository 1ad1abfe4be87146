import ArgumentParser
import Foundation
import HotswapCore
import HotswapGateway
import HotswapRuntime
import Logging
import NIOPosix
import Synchronization

struct ConnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "A stdio MCP server that relays to a running gateway: for desktop clients that start servers.",
        discussion: """
            Claude Desktop, Cursor, VS Code and other clients start MCP servers as processes and talk to them \
            over stdio. `hotswap connect` is such a server: it relays every message to the gateway's /mcp \
            (Streamable HTTP) and back, so the client gets the gateway's catalog and its hot reloads. When the \
            gateway restarts, it opens a new session, replays the client's initialize, resends what was in \
            flight, and tells the client its lists changed. With no gateway there at all, the client's \
            initialize is answered with the reason after 10 s, and connect keeps trying.

            Examples:
              hotswap connect                                   # http://127.0.0.1:4444/mcp
              hotswap connect http://gateway.internal:4444/mcp --token "$TOKEN"
              hotswap connect --socket /run/hotswap/control.sock
            """)

    @Argument(help: "The gateway's MCP endpoint. [default: http://127.0.0.1:4444/mcp]")
    var url: String?

    @Option(help: "The gateway's control socket, instead of a URL (it serves /mcp too).")
    var socket: String?

    @Option(help: "A bearer token for the gateway's Authorization header. Env HOTSWAP_CONNECT_TOKEN.")
    var token: String?

    func validate() throws {
        if url != nil && socket != nil { throw ValidationError("give a URL or --socket, not both") }
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("'\(url)' is not an http:// or https:// URL")
        }
    }

    func run() async throws {
        let target: String
        if let socket {
            let path = socket.hasPrefix("/") ? socket : FileManager.default.currentDirectoryPath + "/" + socket
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path
            target = "http+unix://\(encoded)/mcp"
        } else {
            target = url ?? "http://127.0.0.1:4444/mcp"
        }
        var headers: [String: String] = [:]
        if let bearer = token ?? ProcessInfo.processInfo.environment["HOTSWAP_CONNECT_TOKEN"], !bearer.isEmpty {
            headers["Authorization"] = "Bearer \(bearer)"
        }
        // stdout is the protocol: everything else goes to stderr.
        var logger = Logger(label: "hotswap.connect") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let door = FrontDoor(url: target, headers: headers, logger: logger)
        await door.run()
    }
}

/// The relay behind `hotswap connect`: stdin lines to the gateway, the gateway's messages to stdout, and a new
/// session, transparently, when the old one is lost.
final class FrontDoor: Sendable {
    let url: String
    let headers: [String: String]
    let logger: Logger

    private struct State {
        var transport: HTTPTransport?
        var generation = 0
        /// The client's `initialize`, replayed on a new session.
        var initialize: [UInt8]?
        var initialized = false
        var reconnecting = false
        /// What the client sent while there was no session.
        var queued: [[UInt8]] = []
        /// Our own replayed `initialize`, by id, waiting for its answer.
        var replay: (id: String, answer: SharedOutcome<JSONValue>)?
        /// The client's requests sent and not answered yet: a failure after the answer is nobody's business.
        var outstanding: Set<JSONValue> = []
        /// The client closed stdin: no more reconnecting.
        var closing = false
    }

    private let state = Mutex(State())

    init(url: String, headers: [String: String], logger: Logger) {
        self.url = url
        self.headers = headers
        self.logger = logger
    }

    /// Relays until the client closes stdin.
    func run() async {
        state.withLock { s in s.transport = makeTransport(generation: 0) }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let reader = Thread { [self] in
                while let line = readLine(strippingNewline: true) {
                    let bytes = Array(line.utf8)
                    if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { toGateway(bytes) }
                }
                done.resume()
            }
            reader.start()
        }
        let transport = state.withLock { s -> HTTPTransport? in
            s.closing = true
            return s.transport
        }
        await transport?.shutdown()
    }

    private func makeTransport(generation: Int) -> HTTPTransport {
        let transport = HTTPTransport.client(
            url: url, headers: headers, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            events: TransportEvents(
                message: { [weak self] bytes in self?.fromGateway(bytes) },
                oversize: { [weak self] _, size in
                    self?.logger.warning("dropped a message of \(size) bytes from the gateway")
                },
                closed: { _ in }))
        transport.onEnd { [weak self] reason in self?.lost(reason, generation: generation) }
        return transport
    }

    private func write(_ bytes: [UInt8]) { WholeWrites.standardOutput.write(bytes + [0x0A]) }

    /// A message from the gateway: an answer settles its request (or our replayed `initialize`); everything
    /// goes on to the client but the answer to our own.
    private func fromGateway(_ bytes: [UInt8]) {
        if let message = try? JSONValue.parse(bytes), message["method"] == nil, let id = message["id"] {
            let replay = state.withLock { s -> SharedOutcome<JSONValue>? in
                s.outstanding.remove(id)
                return s.replay.flatMap { $0.id == id.stringValue ? $0.answer : nil }
            }
            if let replay {
                replay.complete(.success(message))
                return
            }
        }
        write(bytes)
    }

    private func toGateway(_ bytes: [UInt8]) {
        let message = (try? JSONValue.parse(bytes)) ?? .null
        let method = message["method"]?.stringValue
        let (transport, generation) = state.withLock { s -> (HTTPTransport?, Int) in
            if method == "initialize" { s.initialize = bytes }
            if method == "notifications/initialized" { s.initialized = true }
            if s.reconnecting || s.transport == nil {
                s.queued.append(bytes)
                return (nil, s.generation)
            }
            if method != nil, let id = message["id"] { s.outstanding.insert(id) }
            return (s.transport, s.generation)
        }
        guard let transport else { return }
        transport.send(bytes, message: message) { [weak self] reason in
            self?.sendFailed(bytes, message: message, reason: reason, transport: transport, generation: generation)
        }
    }

    /// A message the gateway did not take, or a request whose exchange ended: sent again on the next session
    /// when this one is gone, else answered with the reason; a request answered already is left alone.
    private func sendFailed(
        _ bytes: [UInt8], message: JSONValue, reason: String, transport: HTTPTransport, generation: Int
    ) {
        let request = message["method"] != nil ? message["id"] : nil
        let sessionGone = transport.hasEnded
        enum Next { case nothing, answer(JSONValue) }
        let next = state.withLock { s -> Next in
            if let request, !s.outstanding.contains(request) { return .nothing }
            if sessionGone, s.generation == generation || s.reconnecting {
                s.queued.append(bytes)
                return .nothing
            }
            guard let request else { return .nothing }
            s.outstanding.remove(request)
            return .answer(request)
        }
        guard case .answer(let id) = next else { return }
        let answer: JSONValue = [
            "jsonrpc": "2.0", "id": id, "error": ["code": -32603, "message": .string("hotswap connect: \(reason)")],
        ]
        write(answer.serialized)
    }

    /// The session ended (the gateway went away or restarted): open a new one in the background.
    private func lost(_ reason: String, generation: Int) {
        let start = state.withLock { s -> Bool in
            guard s.generation == generation, !s.reconnecting else { return false }
            s.reconnecting = true
            return true
        }
        guard start else { return }
        logger.warning("lost the gateway's session; reconnecting", metadata: ["reason": "\(reason)"])
        Task { await reconnect(after: generation) }
    }

    private func reconnect(after old: Int) async {
        let previous = state.withLock { $0.transport }
        await previous?.shutdown()
        var pause = Duration.milliseconds(200)
        var attempt = 0
        let began = ContinuousClock.now
        while !state.withLock({ $0.closing }) {
            // Never a tight loop: a gateway that is not there yet is asked again after a growing pause.
            guard (try? await Task.sleep(for: pause)) != nil else { return }
            pause = min(pause * 2, .seconds(5))
            attempt += 1
            let generation = old + attempt
            let transport = makeTransport(generation: generation)
            let failure = await handshake(transport, generation: generation)
            if failure == nil {
                let (queued, hadSession) = state.withLock { s -> ([[UInt8]], Bool) in
                    s.transport = transport
                    s.generation = generation
                    s.reconnecting = false
                    defer { s.queued = [] }
                    return (s.queued, s.initialized)
                }
                if hadSession {
                    logger.warning("reconnected to the gateway")
                    // The new session's lists may differ from what the client saw: it asks again.
                    for kind in ["tools", "prompts", "resources"] {
                        let notice: JSONValue = [
                            "jsonrpc": "2.0", "method": .string("notifications/\(kind)/list_changed"),
                        ]
                        write(notice.serialized)
                    }
                }
                for bytes in queued { toGateway(bytes) }
                if state.withLock({ $0.closing }) { await transport.shutdown() }
                return
            }
            await transport.shutdown()
            giveUpOnInitialize(since: began, reason: failure ?? "")
        }
    }

    /// A client whose first `initialize` finds no gateway for 10 s gets an error answer saying why (a desktop
    /// client shows it) rather than waiting in silence; connect keeps trying for whatever it sends next.
    private func giveUpOnInitialize(since began: ContinuousClock.Instant, reason: String) {
        guard ContinuousClock.now - began > .seconds(10) else { return }
        let id = state.withLock { s -> JSONValue? in
            guard !s.initialized, let initialize = s.initialize, let at = s.queued.firstIndex(of: initialize) else {
                return nil
            }
            s.queued.remove(at: at)
            s.initialize = nil
            let id = (try? JSONValue.parse(initialize))?["id"]
            if let id { s.outstanding.remove(id) }
            return id
        }
        guard let id else { return }
        let answer: JSONValue = [
            "jsonrpc": "2.0", "id": id,
            "error": [
                "code": -32603, "message": .string("hotswap connect: cannot reach the gateway at \(url): \(reason)"),
            ],
        ]
        write(answer.serialized)
    }

    /// Proves the gateway is there with an `initialize`: the client's own when it is still waiting for its answer
    /// (which it then gets), else the client's earlier one replayed under an id of ours (its answer swallowed),
    /// followed by `notifications/initialized` when the client had sent it. True when the gateway answered.
    private func handshake(_ transport: HTTPTransport, generation: Int) async -> String? {
        let (initialize, initialized, pending) = state.withLock { s in
            (s.initialize, s.initialized, s.queued.firstIndex { $0 == s.initialize })
        }
        guard let initialize, var request = (try? JSONValue.parse(initialize))?.objectValue else {
            return nil  // nothing to replay: the queued messages go as they are
        }
        let clientID = request["id"] ?? .null
        let id = "hotswap-connect-\(generation)"
        request["id"] = .string(id)
        let answer = SharedOutcome<JSONValue>()
        state.withLock { $0.replay = (id, answer) }
        let replayed = JSONValue.object(request)
        transport.send(replayed.serialized, message: replayed) { reason in
            answer.complete(.failure(ConnectFailure(reason: reason)))
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(10))
            answer.complete(.failure(ConnectFailure(reason: "no answer to initialize")))
        }
        let result = await answer.wait()
        timer.cancel()
        state.withLock { $0.replay = nil }
        guard case .success(let message) = result, message["result"] != nil, var reply = message.objectValue else {
            if case .failure(let failure as ConnectFailure) = result { return failure.reason }
            return "the gateway refused initialize"
        }
        if let pending {
            // The client's own initialize: it gets the answer, under its id.
            state.withLock { s in
                if s.queued.indices.contains(pending) { s.queued.remove(at: pending) }
                s.outstanding.remove(clientID)
            }
            reply["id"] = clientID
            write(JSONValue.object(reply).serialized)
        }
        if initialized {
            let notice: JSONValue = ["jsonrpc": "2.0", "method": "notifications/initialized"]
            transport.send(notice.serialized, message: notice) { _ in }
        }
        return nil
    }
}

struct ConnectFailure: Error {
    var reason: String
}
