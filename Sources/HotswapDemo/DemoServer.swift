import Foundation
import HTTPTypes
import HotswapCore
import Hummingbird
import Synchronization

/// A tiny MCP server for tests, examples and the image: tools `echo`, `sleep`, `fail`, `whoami`, `crash`,
/// `progress` and `sample`.
/// Speaks newline-delimited JSON-RPC on stdio, or Streamable HTTP (JSON replies) with `--listen HOST:PORT`.
/// A library, so that `hotswap` carries it too: the image ships `mcp-demo-server` as a link to `hotswap`, which
/// runs this when called by that name, instead of a second 70 MB binary with its own static Foundation.
public enum DemoServer {
    /// Runs the server with these arguments (the command line without the program's name).
    public static func run(_ arguments: [String]) async throws {
        var args = arguments
        var name = "demo"
        var listen: String?
        while !args.isEmpty {
            let flag = args.removeFirst()
            switch flag {
            case "--name": name = args.isEmpty ? name : args.removeFirst()
            case "--listen": listen = args.isEmpty ? nil : args.removeFirst()
            case "-h", "--help":
                print(
                    """
                    USAGE: mcp-demo-server [--name NAME] [--listen HOST:PORT]

                    A small MCP server with tools echo(text), sleep(seconds), fail(message), whoami,
                    crash(code), progress(n) (n progress notifications when the call asks for progress) and
                    sample(text) (asks the client's model; stdio only). Without --listen it speaks MCP over
                    stdio (newline-delimited JSON-RPC); with it, Streamable HTTP at /mcp.
                    """)
                return
            default:
                FileHandle.standardError.write(Data("mcp-demo-server: unknown flag \(flag); see --help\n".utf8))
                exit(2)
            }
        }
        if let listen {
            try await serveHTTP(listen: listen, tools: DemoTools(name: name))
        } else {
            await serveStdio(tools: DemoTools(name: name, output: StdoutWriter()))
        }
    }

    static func serveStdio(tools: DemoTools) async {
        FileHandle.standardError.write(Data("mcp-demo-server \(tools.name) started, pid \(getpid())\n".utf8))
        let output = tools.output ?? StdoutWriter()
        let running = TaskTable()
        let lines = AsyncStream<String> { continuation in
            let thread = Thread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }
            thread.start()
        }
        await withDiscardingTaskGroup { group in
            for await line in lines {
                guard let message = try? JSONValue.parse(line) else { continue }
                if message["method"]?.stringValue == "notifications/cancelled",
                    let id = message["params"]?["requestId"]
                {
                    running.cancel(id)
                    continue
                }
                guard let id = message["id"], let method = message["method"]?.stringValue else {
                    // The client's answer to a request of ours (sampling).
                    if let id = message["id"]?.intValue { tools.asks.resolve(id, message) }
                    continue
                }
                let task = Task {
                    let reply = await tools.handle(id: id, method: method, params: message["params"])
                    if let reply { output.write(reply) }
                    running.remove(id)
                }
                running.add(id, task)
                group.addTask { await task.value }
            }
        }
    }

    static func serveHTTP(listen: String, tools: DemoTools) async throws {
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        let host = parts.count > 1 ? String(parts.dropLast().joined(separator: ":")) : "127.0.0.1"
        guard let port = Int(parts.last ?? "") else {
            FileHandle.standardError.write(Data("mcp-demo-server: --listen HOST:PORT\n".utf8))
            exit(2)
        }
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 4 << 20)
            guard let message = try? JSONValue.parse(Array(buffer: body)), let method = message["method"]?.stringValue
            else { return Response(status: .badRequest) }
            guard let id = message["id"] else { return Response(status: .accepted) }
            let reply = await tools.handle(id: id, method: method, params: message["params"]) ?? .null
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            if method == "initialize" { headers[HTTPField.Name("Mcp-Session-Id")!] = "demo-\(getpid())" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.serialized)))
        }
        // No server-initiated stream and no session to end: 405, as the specification asks (a 404 would tell a
        // client its session is gone).
        router.get("/mcp") { _, _ in Response(status: .methodNotAllowed) }
        router.delete("/mcp") { _, _ in Response(status: .methodNotAllowed) }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host.isEmpty ? "0.0.0.0" : host, port: port)))
        try await app.runService()
    }
}

/// Requests being handled, by id, so `notifications/cancelled` can stop one.
final class TaskTable: Sendable {
    private let tasks = Mutex<[JSONValue: Task<Void, Never>]>([:])
    func add(_ id: JSONValue, _ task: Task<Void, Never>) { tasks.withLock { $0[id] = task } }
    func remove(_ id: JSONValue) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
    func cancel(_ id: JSONValue) { tasks.withLock { $0[id] }?.cancel() }
}

/// Requests the server sent the client, waiting for the answer.
final class AskTable: Sendable {
    private let state = Mutex<(next: Int64, waiting: [Int64: CheckedContinuation<JSONValue, Never>])>((0, [:]))

    /// Sends a request through `write` with a fresh id and waits for the client's answer.
    func ask(_ method: String, _ params: JSONValue, write: (JSONValue) -> Void) async -> JSONValue {
        let id = state.withLock { s -> Int64 in
            s.next += 1
            return s.next
        }
        return await withCheckedContinuation { c in
            state.withLock { $0.waiting[id] = c }
            write(["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params])
        }
    }

    func resolve(_ id: Int64, _ message: JSONValue) {
        state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: message)
    }
}

/// Writes whole JSON lines to stdout.
final class StdoutWriter: Sendable {
    private let lock = Mutex(())
    func write(_ message: JSONValue) {
        let bytes = message.serialized + [0x0A]
        lock.withLock { _ in FileHandle.standardOutput.write(Data(bytes)) }
    }
}

/// The tools and the MCP methods around them.
struct DemoTools: Sendable {
    let name: String
    /// Where notifications and the server's own requests go (stdio only).
    var output: StdoutWriter? = nil
    let asks = AskTable()

    static let definitions: [JSONValue] = [
        tool("echo", "Returns its text.", ["text": ["type": "string"]], required: ["text"]),
        tool(
            "sleep", "Sleeps for the given seconds, then answers.", ["seconds": ["type": "number"]],
            required: ["seconds"]),
        tool("fail", "Answers with a tool error carrying the message.", ["message": ["type": "string"]], required: []),
        tool("whoami", "Answers the server's --name and pid.", [:], required: []),
        tool("crash", "Exits the process at once with the given code.", ["code": ["type": "integer"]], required: []),
        tool(
            "progress", "Reports progress N times (when asked for progress), then answers.",
            ["n": ["type": "integer"]], required: ["n"]),
        tool(
            "sample", "Asks the client's model for a sampling of its text, and answers with it.",
            ["text": ["type": "string"]], required: ["text"]),
    ]

    static func tool(_ name: String, _ description: String, _ properties: [String: JSONValue], required: [String])
        -> JSONValue
    {
        [
            "name": .string(name), "description": .string(description),
            "inputSchema": [
                "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
            ],
        ]
    }

    func handle(id: JSONValue, method: String, params: JSONValue?) async -> JSONValue? {
        func result(_ r: JSONValue) -> JSONValue { ["jsonrpc": "2.0", "id": id, "result": r] }
        func text(_ t: String, isError: Bool = false) -> JSONValue {
            result(["content": [["type": "text", "text": .string(t)]], "isError": .bool(isError)])
        }
        switch method {
        case "initialize":
            let version = params?["protocolVersion"]?.stringValue ?? "2025-11-25"
            return result([
                "protocolVersion": .string(version), "capabilities": ["tools": ["listChanged": false]],
                "serverInfo": ["name": .string("mcp-demo-server/\(name)"), "version": "0.1.0"],
            ])
        case "ping":
            return result([:])
        case "tools/list":
            return result(["tools": .array(Self.definitions)])
        case "tools/call":
            let arguments = params?["arguments"]
            switch params?["name"]?.stringValue ?? "" {
            case "echo":
                return text(arguments?["text"]?.stringValue ?? "")
            case "sleep":
                let seconds = arguments?["seconds"]?.doubleValue ?? 0
                do {
                    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                } catch {
                    return nil
                }
                return text("slept \(seconds)s in \(name) pid \(getpid())")
            case "fail":
                return text(arguments?["message"]?.stringValue ?? "failed as asked", isError: true)
            case "whoami":
                return text("\(name) \(getpid())")
            case "crash":
                exit(Int32(arguments?["code"]?.intValue ?? 3))
            case "progress":
                let n = arguments?["n"]?.intValue ?? 0
                if let token = params?["_meta"]?["progressToken"], let output {
                    for i in 0..<n {
                        output.write([
                            "jsonrpc": "2.0", "method": "notifications/progress",
                            "params": ["progressToken": token, "progress": .int(Int64(i + 1)), "total": .int(n)],
                        ])
                    }
                }
                return text("reported \(n)")
            case "sample":
                guard let output else { return text("sample works over stdio only", isError: true) }
                let question = arguments?["text"]?.stringValue ?? ""
                let answer = await asks.ask(
                    "sampling/createMessage",
                    [
                        "messages": [["role": "user", "content": ["type": "text", "text": .string(question)]]],
                        "maxTokens": 50,
                    ], write: output.write)
                if let error = answer["error"] { return text("sampling failed: \(error.text)", isError: true) }
                return text(answer["result"]?["content"]?["text"]?.stringValue ?? "")
            default:
                return [
                    "jsonrpc": "2.0", "id": id,
                    "error": [
                        "code": -32602, "message": .string("unknown tool \(params?["name"]?.stringValue ?? "")"),
                    ],
                ]
            }
        default:
            return [
                "jsonrpc": "2.0", "id": id, "error": ["code": -32601, "message": .string("unknown method \(method)")],
            ]
        }
    }
}
