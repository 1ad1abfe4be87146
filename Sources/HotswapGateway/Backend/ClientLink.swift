import HotswapCore

/// A client as a backend sees it: somewhere a server's requests (`sampling/createMessage`,
/// `elicitation/create`, `roots/list`) and its notifications can go, and its answers come back from.
public protocol ClientRequester: Sendable {
    /// Whether the client announced what `method` needs (its `sampling`, `elicitation` or `roots` capability).
    func accepts(_ method: String, _ params: JSONValue?) -> Bool
    /// Asks the client and waits for its answer, at most `timeout`.
    func request(_ method: String, _ params: JSONValue?, timeout: Duration) async -> RPCOutcome
    /// A server's notification for this client (a log message during its call).
    func relay(_ message: JSONValue, from server: String)
}

/// One client request being served by a backend: where that call's progress goes, and the client a server's
/// request made during the call is for. The session behind it takes requests made outside any call.
public protocol CallerLink: ClientRequester, AnyObject {
    /// The client's `progressToken` for this call, if it asked for progress.
    var progressToken: JSONValue? { get }
    /// Progress from the server, with the gateway's token: forwarded with the client's.
    func progress(_ params: JSONValue)
    /// The client's session, for the server's requests once no call of it is in flight.
    var session: any ClientRequester { get }
    /// Who the client is (its session; a stateless request is its own): a server's request or log message
    /// during calls of two different clients cannot be told apart, so it goes to neither.
    var client: String { get }
    /// The log level a 2026-07-28 server gets with this request: a 2026-07-28 client's own (nil when it asked
    /// for none), or `sessionLevel` for a client of the older revisions, whose servers log until told otherwise.
    func logLevel(sessionLevel: String) -> String?
}

/// The server-to-client requests the gateway passes on to clients; `ping` it answers itself.
let clientMethods: Set<String> = ["sampling/createMessage", "elicitation/create", "roots/list"]

/// What the gateway tells its backends it can do as their client: everything it passes on.
let gatewayClientCapabilities: JSONValue = [
    "sampling": [:], "elicitation": ["form": [:], "url": [:]], "roots": ["listChanged": false],
]
