import HotswapCore

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
    /// Queues one JSON-RPC message: `bytes` is `message` serialized, and a transport that routes by method or id
    /// reads them from `message` rather than parsing the bytes again. `failed` runs (once, on any thread) when it
    /// cannot be delivered, and for a request whose exchange ended without its answer (an HTTP event stream
    /// that closed early); a request answered meanwhile ignores it, as `RPCSession` does.
    func send(_ bytes: [UInt8], message: JSONValue, failed: @escaping @Sendable (String) -> Void)
    /// Closes the transport; `TransportEvents.closed` follows.
    func close()
    /// The largest message the transport takes from the server.
    var maxMessageBytes: Int { get }
}
