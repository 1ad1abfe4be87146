import HotswapCore
import Synchronization

/// The lists a client can be told have changed.
public enum ListKind: String, Sendable, CaseIterable {
    case tools, prompts, resources

    /// The notification a client gets when this list changes.
    public var notification: String { "notifications/\(rawValue)/list_changed" }
}

/// What a backend reports upwards while it runs: its lists changed, or a notification for clients (resource
/// updates, log messages).
public struct BackendEvents: Sendable {
    public var listChanged: @Sendable (ListKind) -> Void
    public var notification: @Sendable (_ server: String, _ message: JSONValue) -> Void

    public init(
        listChanged: @escaping @Sendable (ListKind) -> Void = { _ in },
        notification: @escaping @Sendable (_ server: String, _ message: JSONValue) -> Void = { _, _ in }
    ) {
        self.listChanged = listChanged
        self.notification = notification
    }
}

/// What a server offers, learned when it starts: its capabilities (from `initialize`) and its lists.
public struct Offerings: Sendable, Equatable {
    public var capabilities: JSONValue = [:]
    public var protocolVersion: String = ""
    /// Filtered by the catalog's allow and deny lists.
    public var tools: [JSONValue] = []
    public var prompts: [JSONValue] = []
    public var resources: [JSONValue] = []
    public var resourceTemplates: [JSONValue] = []

    /// Whether the server takes `resources/subscribe`.
    public var offersSubscriptions: Bool { capabilities["resources"]?["subscribe"] == true }

    /// Whether the server announced a capability (`prompts`, `resources`, `logging`, `completions`, ...).
    public func offers(_ capability: String) -> Bool {
        guard let value = capabilities[capability] else { return false }
        return value != .null
    }
}

extension Backend {
    /// What the server offered when it last started, or nil when it has never started.
    public var offerings: Offerings? { state.withLock { $0.offerings } }

    /// Fetches every list the server's capabilities announce (tools always: a server without them answers
    /// "method not found", which reads as none), each following `nextCursor`, by `deadline`.
    func fetchLists(
        _ session: RPCSession, into offerings: inout Offerings, by deadline: ContinuousClock.Instant,
        only kinds: Set<ListKind> = Set(ListKind.allCases)
    ) async throws {
        if kinds.contains(.tools) {
            offerings.tools = try await listAll(session, "tools/list", "tools", by: deadline).filter {
                definition.tools.permits($0["name"]?.stringValue ?? "")
            }
        }
        if kinds.contains(.prompts), offerings.offers("prompts") {
            offerings.prompts = try await listAll(session, "prompts/list", "prompts", by: deadline)
        }
        if kinds.contains(.resources), offerings.offers("resources") {
            offerings.resources = try await listAll(session, "resources/list", "resources", by: deadline)
            offerings.resourceTemplates = try await listAll(
                session, "resources/templates/list", "resourceTemplates", by: deadline)
        }
    }

    /// One list, every page (at most 100); an error answer is an empty list (the server has none to give).
    func listAll(
        _ session: RPCSession, _ method: String, _ key: String, by deadline: ContinuousClock.Instant
    ) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: JSONValue?
        for _ in 0..<100 {
            let params: JSONValue? = cursor.map { ["cursor": $0] }
            let outcome = try await session.request(
                method: method, params: params, timeout: max(.milliseconds(1), deadline - .now))
            guard case .result(let result) = outcome else { return items }
            items += result[key]?.arrayValue ?? []
            guard let next = result["nextCursor"], next != .null else { break }
            cursor = next
        }
        return items
    }

    /// A notification from the server: a list change refreshes that list and tells clients; resource updates
    /// and log messages go up to the sessions.
    func notification(_ message: JSONValue) {
        guard let message = Self.fromListen(message) else { return }
        let method = message["method"]?.stringValue ?? ""
        guard let kind = ListKind.allCases.first(where: { $0.notification == method }) else {
            // A log message while calls of one client are in flight goes to that client, on the latest call's
            // stream, as the server itself would send it; with several clients' calls in flight nobody can
            // tell whose it is, and it goes the way of messages outside calls.
            if method == "notifications/message", case .one(let caller) = state.withLock({ $0.inFlightClient }) {
                caller.relay(message, from: id)
                return
            }
            events.notification(id, message)
            return
        }
        tasks.spawn { [weak self] in
            guard let self, let session = self.state.withLock({ $0.session }),
                var offerings = self.state.withLock({ $0.offerings })
            else { return }
            let deadline = ContinuousClock.now + self.definition.requestTimeout.duration
            guard (try? await self.fetchLists(session, into: &offerings, by: deadline, only: [kind])) != nil else {
                return
            }
            self.state.withLock { s in
                guard var current = s.offerings else { return }
                switch kind {
                case .tools: current.tools = offerings.tools
                case .prompts: current.prompts = offerings.prompts
                case .resources:
                    current.resources = offerings.resources
                    current.resourceTemplates = offerings.resourceTemplates
                }
                s.offerings = current
            }
            self.events.listChanged(kind)
        }
    }
}
