import Foundation
import HTTPTypes
import HotswapCore
import Hummingbird
import Synchronization

/// A tiny MCP server for tests, examples and the image: tools `echo`, `sleep`, `fail`, `whoami`, `crash`.
/// Speaks newline-delimited JSON-RPC on stdio, or Streamable HTTP (JSON replies) with `--listen HOST:PORT`.
@main
struct DemoServer {
    static func main() async throws {
        var args = Array(CommandLine.arguments.dropFirst())
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

                    A small MCP server with tools echo(text), sleep(seconds), fail(message), whoami and
                    crash(code). Without --listen it speaks MCP over stdio (newline-delimited JSON-RPC);
                    with it, Streamable HTTP at /mcp.
                    """)
                return
            default:
                FileHandle.standardError.write(Data("mcp-demo-server: unknown flag \(flag); see --help\n".utf8))
                exit(2)
            }
        }
        let tools = DemoTools(name: name)
        if let listen {
            try await serveHTTP(listen: listen, tools: tools)
        } else {
            await serveStdio(tools: tools)
        }
    }

    static func serveStdio(tools: DemoTools) async {
        FileHandle.standardError.write(Data("mcp-demo-server \(tools.name) started, pid \(getpid())\n".utf8))
        let output = StdoutWriter()
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
                guard let id = message["id"], let method = message["method"]?.stringValue else { continue }
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

    static let definitions: [JSONValue] = [
        tool("echo", "Returns its text.", ["text": ["type": "string"]], required: ["text"]),
        tool(
            "sleep", "Sleeps for the given seconds, then answers.", ["seconds": ["type": "number"]],
            required: ["seconds"]),
        tool("fail", "Answers with a tool error carrying the message.", ["message": ["type": "string"]], required: []),
        tool("whoami", "Answers the server's --name and pid.", [:], required: []),
        tool("crash", "Exits the process at once with the given code.", ["code": ["type": "integer"]], required: []),
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
