/// What a transport reports to the JSON-RPC session above it.
public struct TransportEvents: Sendable {
    /// One complete message (a line on stdio; a body or an SSE event over HTTP), not yet parsed.
    public var message: @Sendable ([UInt8]) -> Void
    /// A message over the transport's size limit was skipped: its first bytes and its size.
    public var oversize: @Sendable (_ head: [UInt8], _ size: Int) -> Void
    /// The transport is gone (the process closed its stdout, the server went away), with why; called once.
    public var closed: @Sendable (String) -> Void

    public init(
        message: @escaping @Sendable ([UInt8]) -> Void,
        oversize: @escaping @Sendable (_ head: [UInt8], _ size: Int) -> Void,
        closed: @escaping @Sendable (String) -> Void
    ) {
        self.message = message
        self.oversize = oversize
        self.closed = closed
    }
}

/// How JSON-RPC messages reach one backend and how its messages come back: the child's stdio pipes
/// (`StdioTransport`), Streamable HTTP for remote servers next. Framing lives here; ids, the pending table,
/// timeouts and cancellation live in `RPCSession`, which is the same for every transport.
public protocol BackendTransport: Sendable {
    /// Queues one serialized JSON-RPC message. `failed` runs (once, on any thread) when it cannot be written.
    func send(_ message: [UInt8], failed: @escaping @Sendable (String) -> Void)
    /// Closes the transport; `TransportEvents.closed` follows.
    func close()
    /// The largest message the transport takes from the server.
    var maxMessageBytes: Int { get }
}
