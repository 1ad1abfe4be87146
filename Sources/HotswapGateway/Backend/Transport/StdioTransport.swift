import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import NIOPosix

/// The MCP stdio transport: newline-delimited JSON-RPC over a child's stdin and stdout, its stderr into the log.
///
/// Lines are split in linear time by `LineHandler`; large messages are handed on off the event loop, in order,
/// by `OrderedDelivery`; stderr is relayed with a rate limit by `StderrRelay`.
public final class StdioTransport: BackendTransport {
    private let channel: any Channel
    public var maxMessageBytes: Int { LineHandler.defaultMaxLine }

    private init(channel: any Channel) { self.channel = channel }

    /// Takes over a spawned child's pipes: JSON-RPC on stdin/stdout, stderr lines into the log tagged with the
    /// server's id and pid. Messages go to `events` in the order they came.
    public static func connect(
        to child: ChildProcess, serverID: String, group: any EventLoopGroup, logger: Logger, events: TransportEvents
    ) async throws -> StdioTransport {
        let delivery = OrderedDelivery(label: serverID)
        let stdio = try await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LineHandler(
                            onLine: { line in delivery.deliver(size: line.count) { events.message(line) } },
                            onOversize: { head, size in delivery.deliver(size: 0) { events.oversize(head, size) } },
                            onClose: { delivery.deliver(size: 0) { events.closed("the server closed its stdout") } }
                        ))
                }
            }
            .takingOwnershipOfDescriptors(input: child.stdout, output: child.stdin).get()
        var stderrLogger = logger
        stderrLogger[metadataKey: "server.id"] = "\(serverID)"
        stderrLogger[metadataKey: "server.pid"] = "\(child.pid)"
        let relay = StderrRelay(logger: stderrLogger)
        _ = try await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LineHandler(
                            maxLine: StderrRelay.maxLineBytes, onLine: { line in relay.line(line) },
                            onOversize: { head, _ in relay.line(head) }, onClose: { relay.flush() }))
                }
            }
            .takingOwnershipOfDescriptor(input: child.stderr).get()
        return StdioTransport(channel: stdio)
    }

    public func send(_ bytes: [UInt8], message: JSONValue, failed: @escaping @Sendable (String) -> Void) {
        var buffer = channel.allocator.buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(0x0A))
        channel.writeAndFlush(buffer).whenFailure { error in failed("cannot write to its stdin: \(error)") }
    }

    public func close() {
        channel.close(promise: nil)
    }
}
