import Foundation
import HotswapCore
import Synchronization

/// The open server-sent event streams of `GET /mcp`, by session, and what goes there: list changes after a
/// swap or a server's notice, resource updates to the sessions subscribed, servers' log messages.
public final class SessionStreams: Sendable {
    private struct Stream {
        var session: String
        var continuation: AsyncStream<JSONValue>.Continuation
        /// A 2026-07-28 `subscriptions/listen` stream: its request id and the lists it asked about.
        var listen: (subscription: JSONValue, kinds: Set<ListKind>)?

        /// Sends a message fit for this stream: a listen stream gets only what it asked for, tagged with its
        /// subscription id; log messages never.
        func deliver(_ message: JSONValue) {
            guard let listen else {
                continuation.yield(message)
                return
            }
            let method = message["method"]?.stringValue ?? ""
            if let kind = ListKind.allCases.first(where: { $0.notification == method }) {
                guard listen.kinds.contains(kind) else { return }
            } else if method != "notifications/resources/updated" {
                return
            }
            guard var object = message.objectValue else { return }
            var params = object["params"]?.objectValue ?? [:]
            var meta = params["_meta"]?.objectValue ?? [:]
            meta[MCPEndpoint.metaSubscription] = listen.subscription
            params["_meta"] = .object(meta)
            object["params"] = .object(params)
            continuation.yield(.object(object))
        }
    }

    private let streams = Mutex<[UUID: Stream]>([:])
    private let closed = Mutex(false)
    /// Resource URI -> the sessions subscribed to it.
    private let subscriptions = Mutex<[String: Set<String>]>([:])

    public init() {}

    /// Opens a stream for a session; nil once the gateway is shutting down.
    func open(session: String) -> (UUID, AsyncStream<JSONValue>)? {
        guard !closed.withLock({ $0 }) else { return nil }
        let (stream, continuation) = AsyncStream.makeStream(of: JSONValue.self, bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        streams.withLock { $0[id] = Stream(session: session, continuation: continuation) }
        return (id, stream)
    }

    /// Opens a `subscriptions/listen` stream; its session name is its own (for resource subscriptions).
    func openListen(subscription: JSONValue, kinds: Set<ListKind>) -> (UUID, String, AsyncStream<JSONValue>)? {
        guard !closed.withLock({ $0 }) else { return nil }
        let (stream, continuation) = AsyncStream.makeStream(of: JSONValue.self, bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        let session = "listen-" + id.uuidString
        streams.withLock {
            $0[id] = Stream(session: session, continuation: continuation, listen: (subscription, kinds))
        }
        return (id, session, stream)
    }

    func close(_ id: UUID) {
        streams.withLock { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    /// Ends every stream of a session (DELETE /mcp).
    func close(session: String) {
        let ending = streams.withLock { s -> [Stream] in
            let matching = s.filter { $0.value.session == session }
            for key in matching.keys { s.removeValue(forKey: key) }
            return Array(matching.values)
        }
        for s in ending { s.continuation.finish() }
    }

    /// Ends every stream and refuses new ones: graceful shutdown must not wait on a stream that never ends.
    public func closeAll() {
        closed.withLock { $0 = true }
        let all = streams.withLock { s -> [Stream] in
            defer { s = [:] }
            return Array(s.values)
        }
        for s in all { s.continuation.finish() }
    }

    public var count: Int { streams.withLock { $0.count } }

    /// Sends a notification to every open stream.
    public func broadcast(_ message: JSONValue) {
        for s in streams.withLock({ Array($0.values) }) { s.deliver(message) }
    }

    /// Sends a message to every open stream of one session; false when it has none.
    @discardableResult
    public func send(_ message: JSONValue, to session: String) -> Bool {
        let open = streams.withLock { $0.values.filter { $0.session == session } }
        for s in open { s.deliver(message) }
        return !open.isEmpty
    }

    /// Event ids of every stream the gateway writes, unique for its lifetime.
    static let eventIDs = Atomic<Int64>(0)

    /// One server-sent event carrying a JSON-RPC message, with an id.
    static func event(_ message: JSONValue) -> String {
        let id = eventIDs.add(1, ordering: .relaxed).newValue
        return "id: \(id)\nevent: message\ndata: \(message.text)\n\n"
    }

    /// After a swap, or a server's own notice, that changed a list.
    public func listChanged(_ kind: ListKind) {
        broadcast(["jsonrpc": "2.0", "method": .string(kind.notification)])
    }

    public func toolsChanged() { listChanged(.tools) }

    // MARK: Subscriptions and server notifications

    /// `resources/subscribe`: the session gets `notifications/resources/updated` for `uri`.
    func subscribe(session: String, uri: String) {
        subscriptions.withLock { _ = $0[uri, default: []].insert(session) }
    }

    /// `resources/unsubscribe`; true when the session had subscribed.
    @discardableResult
    func unsubscribe(session: String, uri: String) -> Bool {
        subscriptions.withLock { all in
            let removed = all[uri]?.remove(session) != nil
            if all[uri]?.isEmpty == true { all[uri] = nil }
            return removed
        }
    }

    /// Whether any session still subscribes to `uri` (the owning server stays subscribed while one does).
    func hasSubscribers(_ uri: String) -> Bool { subscriptions.withLock { $0[uri] != nil } }

    /// Drops a session's subscriptions (DELETE, eviction); returns the URIs nobody subscribes to any more.
    func dropSubscriptions(of session: String) -> [String] {
        subscriptions.withLock { all in
            var orphaned: [String] = []
            for (uri, var sessions) in all where sessions.contains(session) {
                sessions.remove(session)
                all[uri] = sessions.isEmpty ? nil : sessions
                if sessions.isEmpty { orphaned.append(uri) }
            }
            return orphaned
        }
    }

    /// A notification a server sent outside any call: a resource update goes to the sessions subscribed to
    /// it; a log message to every session, with the server's id in `logger`. Anything else stays here.
    public func serverNotification(_ server: String, _ message: JSONValue) {
        switch message["method"]?.stringValue {
        case "notifications/resources/updated":
            guard let uri = message["params"]?["uri"]?.stringValue else { return }
            for session in subscriptions.withLock({ $0[uri] ?? [] }) { send(message, to: session) }
        case "notifications/message":
            broadcast(Self.attributed(message, to: server))
        default:
            return
        }
    }

    /// A log message with the server's id in `logger` (`<server>`, or `<server>/<its logger>`).
    static func attributed(_ message: JSONValue, to server: String) -> JSONValue {
        guard var object = message.objectValue, var params = object["params"]?.objectValue else { return message }
        if let logger = params["logger"]?.stringValue, !logger.isEmpty {
            params["logger"] = .string("\(server)/\(logger)")
        } else {
            params["logger"] = .string(server)
        }
        object["params"] = .object(params)
        return .object(object)
    }
}
