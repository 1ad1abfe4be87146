// libFuzzer target: the gateway's `/mcp` request handling (MCPEndpoint.post: JSON-RPC parsing, session and
// protocol-version checks, initialize, dispatch of every method, tool-name routing), against a registry whose
// live catalog has no server: nothing is ever spawned.
//
// An input is the POST body, sent with a live session id and no MCP-Protocol-Version header, unless it starts
// with a line `@SV` (3 bytes and a newline) choosing the headers: S is the session (`v` live, `n` none,
// `x` unknown) and V the protocol version (`-` none, `0`, `1`, `2` a supported one, anything else an
// unsupported one).
//
// Properties, each a crash when broken: handling never traps; every reply is 200, 202, 400 or 404; a 202 has no
// body and any other reply a JSON-RPC 2.0 object that serializes to JSON that parses.

import Dispatch
import HotswapCore
import HotswapGateway
import Logging
import NIOPosix

/// Blocks the calling thread (libFuzzer's, never one of the concurrency pool's) until `work` has finished.
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = Box<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await work()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// Written by the task before it signals, read by the waiter after: the semaphore orders the two.
final class Box<T>: @unchecked Sendable { var value: T? }

struct Harness: Sendable {
    let endpoint: MCPEndpoint
    let session: String

    static func make() -> Harness {
        var logger = Logger(label: "fuzz-gateway")
        logger.logLevel = .critical
        let metrics = GatewayMetrics()
        let registry = Registry(
            settings: Registry.Settings(configPath: nil, environment: [:]),
            group: MultiThreadedEventLoopGroup.singleton,
            logger: logger, metrics: metrics)
        // The registry's background work (where every request's work runs) for the fuzzer's lifetime.
        Task.detached { await registry.supervise() }
        let report = runBlocking {
            await registry.submit(ReloadRequest(bytes: Array("version: 1\nservers: []\n".utf8), source: .startup))
        }
        guard report.result == .applied else { fatalError("the empty catalog was not applied: \(report)") }
        let endpoint = MCPEndpoint(registry: registry, metrics: metrics, logger: logger)
        let initialize = Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8)
        let reply = runBlocking { await endpoint.post(body: initialize, sessionID: nil, protocolVersion: nil) }
        guard let session = reply.headers.first(where: { $0.0 == "Mcp-Session-Id" })?.1 else {
            fatalError("initialize gave no session: \(reply)")
        }
        return Harness(endpoint: endpoint, session: session)
    }
}

let harness = Harness.make()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGateway(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var body = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    var session: String? = harness.session
    var version: String?
    if body.count >= 4, body[0] == UInt8(ascii: "@"), body[3] == 0x0A {
        switch body[1] {
        case UInt8(ascii: "n"): session = nil
        case UInt8(ascii: "x"): session = "0123456789abcdef0123456789abcdef"
        default: break
        }
        switch body[2] {
        case UInt8(ascii: "-"): version = nil
        case UInt8(ascii: "0"), UInt8(ascii: "1"), UInt8(ascii: "2"):
            version = MCPEndpoint.supportedVersions[Int(body[2] - UInt8(ascii: "0"))]
        default: version = "1999-01-0" + String(UnicodeScalar(body[2]))
        }
        body.removeFirst(4)
    }
    let endpoint = harness.endpoint
    let request = body
    let reply = runBlocking { [session, version] in
        await endpoint.post(body: request, sessionID: session, protocolVersion: version)
    }
    // A session this input opened is closed again: the session table stays the same size from input to input.
    if let opened = reply.headers.first(where: { $0.0 == "Mcp-Session-Id" })?.1, opened != harness.session {
        guard endpoint.delete(sessionID: opened).status == 200 else { fatalError("a new session cannot be deleted") }
    }
    switch reply.status {
    case 202:
        guard reply.body == nil else { fatalError("a 202 reply with a body: \(reply)") }
    case 200, 400, 404:
        guard let body = reply.body, body["jsonrpc"]?.stringValue == "2.0" else {
            fatalError("a \(reply.status) reply without a JSON-RPC 2.0 body: \(reply)")
        }
        guard (try? JSONValue.parse(body.serialized)) != nil else { fatalError("a reply that is not JSON: \(reply)") }
    default:
        fatalError("unexpected status \(reply.status)")
    }
    return 0
}
