import Foundation
import HotswapCore
import Synchronization

/// The open server-sent event streams of `GET /mcp`, by session: where `notifications/tools/list_changed`
/// goes after a swap that changes the tool set.
public final class SessionStreams: Sendable {
    private struct Stream {
        var session: String
        var continuation: AsyncStream<JSONValue>.Continuation
    }

    private let streams = Mutex<[UUID: Stream]>([:])
    private let closed = Mutex(false)

    public init() {}

    /// Opens a stream for a session; nil once the gateway is shutting down.
    func open(session: String) -> (UUID, AsyncStream<JSONValue>)? {
        guard !closed.withLock({ $0 }) else { return nil }
        let (stream, continuation) = AsyncStream.makeStream(of: JSONValue.self, bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        streams.withLock { $0[id] = Stream(session: session, continuation: continuation) }
        return (id, stream)
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
        for s in streams.withLock({ Array($0.values) }) { s.continuation.yield(message) }
    }

    /// After a swap that changed the tool set.
    public func toolsChanged() {
        broadcast(["jsonrpc": "2.0", "method": "notifications/tools/list_changed"])
    }
}
