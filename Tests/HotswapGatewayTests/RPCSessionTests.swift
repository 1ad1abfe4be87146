import HotswapCore
import HotswapRuntime
import HotswapTestSupport
import Logging
import Synchronization
import Testing

@testable import HotswapGateway

/// The JSON-RPC session with a fake transport: ids, the pending table, timeouts and cancellation that tell the
/// server, progress, the server's own requests. No process, no socket.
@Suite("RPCSession over a fake transport")
struct RPCSessionTests {
    let transport = FakeTransport()
    let tasks = TaskSupervisor()
    let session: RPCSession

    init() {
        session = RPCSession(serverID: "s", logger: Logger(label: "test"), tasks: tasks)
        transport.events = session.events
        session.attach(transport)
    }

    func sentRequest(_ method: String) async throws -> JSONValue {
        try await eventually("\(method) to be sent") { !transport.requests(method).isEmpty }
        return transport.requests(method).last!
    }

    @Test("responses are matched by id, in any order, and ids are the session's own")
    func matching() async throws {
        async let a = session.request(method: "a", params: ["x": 1], timeout: .seconds(60))
        async let b = session.request(method: "b", params: nil, timeout: .seconds(60))
        let ra = try await sentRequest("a")
        let rb = try await sentRequest("b")
        #expect(ra["id"] != rb["id"])
        #expect(ra["params"] == ["x": 1])
        transport.deliver(["jsonrpc": "2.0", "id": rb["id"]!, "result": "B"])
        transport.deliver(["jsonrpc": "2.0", "id": ra["id"]!, "error": ["code": 1, "message": "A"]])
        #expect(try await b == .result("B"))
        #expect(try await a == .error(["code": 1, "message": "A"]))
        #expect(session.pendingCount == 0)
    }

    @Test("a request that gets no answer times out and the server is told with notifications/cancelled")
    func timeout() async throws {
        await #expect(throws: BackendError.self) {
            _ = try await session.request(method: "slow", params: nil, timeout: .milliseconds(20))
        }
        let id = transport.requests("slow")[0]["id"]!
        try await eventually("the cancellation to be sent") {
            transport.requests("notifications/cancelled").contains { $0["params"]?["requestId"] == id }
        }
        #expect(session.pendingCount == 0)
        // A late answer is dropped, not delivered to anyone.
        transport.deliver(["jsonrpc": "2.0", "id": id, "result": [:]])
    }

    @Test("a cancelled caller fails at once, frees its entry, and the server gets notifications/cancelled")
    func cancellation() async throws {
        let call = Task { try await session.request(method: "long", params: nil, timeout: .seconds(600)) }
        let id = try await sentRequest("long")["id"]!
        call.cancel()
        await #expect(throws: CancellationError.self) { _ = try await call.value }
        #expect(session.pendingCount == 0)
        let cancels = transport.requests("notifications/cancelled")
        #expect(cancels.count == 1)
        #expect(cancels.first?["params"]?["requestId"] == id)
    }

    @Test("progress for a request reaches its caller and moves its deadline on; other tokens do not")
    func progress() async throws {
        let seen = Recorder<JSONValue>()
        let call = Task {
            try await session.request(
                method: "tools/call", params: ["name": "t", "_meta": ["keep": true]], timeout: .seconds(600),
                onProgress: { p in seen.append(p) })
        }
        let sent = try await sentRequest("tools/call")
        let id = try #require(sent["id"]?.intValue)
        #expect(sent["params"]?["_meta"]?["progressToken"] == .int(id))
        #expect(sent["params"]?["_meta"]?["keep"] == true, "the caller's other _meta stays")
        let before = try #require(session.deadline(of: id))
        transport.deliver([
            "jsonrpc": "2.0", "method": "notifications/progress",
            "params": ["progressToken": .int(id), "progress": 1, "total": 2],
        ])
        try await eventually("the progress to be handed on") { seen.values.count == 1 }
        #expect(try #require(session.deadline(of: id)) > before)
        #expect(seen.values.first?["progress"] == 1)
        transport.deliver(["jsonrpc": "2.0", "id": .int(id), "result": ["ok": true]])
        #expect(try await call.value == .result(["ok": true]))
    }

    @Test("max_call_duration: progress moves the deadline on, never past the ceiling; the server is told")
    func ceiling() async throws {
        let call = Task {
            try await session.request(
                method: "tools/call", params: ["name": "t"], timeout: .seconds(600), ceiling: .seconds(3),
                onProgress: { _ in })
        }
        // 3 s, not less: the two deadline reads below must come before the ceiling on a busy 2-core machine.
        let sent = try await sentRequest("tools/call")
        let id = try #require(sent["id"]?.intValue)
        let first = try #require(session.deadline(of: id))
        transport.deliver([
            "jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": .int(id), "progress": 1],
        ])
        // However lively the call, its deadline stays at the ceiling (600 s would be the timeout's).
        #expect(try #require(session.deadline(of: id)) <= first)
        let error = await #expect(throws: BackendError.self) { try await call.value }
        #expect(error?.kind == .timeout)
        #expect(error?.message.contains("max_call_duration") == true, "\(String(describing: error))")
        try await eventually("notifications/cancelled") { !transport.requests("notifications/cancelled").isEmpty }
    }

    @Test("while a client answers the server's request (a person deciding), the server's calls do not time out")
    func heldWhileAsking() async throws {
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let asked = Recorder<String>()
        let session = RPCSession(
            serverID: "s", logger: Logger(label: "test"), tasks: tasks,
            handlers: .init(request: { method, _ in
                asked.append(method)
                for await _ in gate { break }
                return .result(["action": "accept"])
            }))
        transport.events = session.events
        session.attach(transport)
        async let supervised: Void = tasks.run()
        // The server asks first, so the hold is on before the call's 200 ms can run out, however slow the
        // machine is between the two.
        transport.deliver(["jsonrpc": "2.0", "id": 9, "method": "elicitation/create", "params": [:]])
        try await eventually("the elicitation to reach the handler") { asked.values == ["elicitation/create"] }
        let call = Task { try await session.request(method: "tools/call", params: nil, timeout: .milliseconds(200)) }
        _ = try await sentRequest("tools/call")
        // Several timeouts' worth later, the call still waits: the server is waiting on the person, not slow.
        let asking = ContinuousClock.now
        try await eventually("a second to pass") { ContinuousClock.now - asking > .seconds(1) }
        #expect(session.pendingCount == 1)
        let answered = ContinuousClock.now
        open.yield()
        try await eventually("the answer to go back") {
            transport.sent.withLock { $0.contains { $0["id"] == 9 && $0["result"]?["action"] == "accept" } }
        }
        // The hold is over: the call's timeout starts again from the answer, so the call (never answered here)
        // times out, and not before a whole timeout after the answer. (A lower bound: a busy machine only makes
        // it later.)
        do {
            _ = try await call.value
            Issue.record("the call was answered, but nobody answered it")
        } catch let error as BackendError {
            #expect(error.kind == .timeout, "\(error)")
        }
        #expect(ContinuousClock.now - answered >= .milliseconds(200))
        #expect(session.pendingCount == 0)
        await tasks.finish(cancelling: true)
        await supervised
    }

    @Test("the server's requests are answered by the handler, with the server's own id")
    func serverRequests() async throws {
        async let supervised: Void = tasks.run()
        transport.deliver(["jsonrpc": "2.0", "id": "p1", "method": "ping"])
        transport.deliver(["jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage", "params": [:]])
        try await eventually("both answers") {
            transport.sent.withLock { $0.filter { $0["method"] == nil }.count } == 2
        }
        let answers = transport.sent.withLock { $0.filter { $0["method"] == nil } }
        #expect(answers.contains { $0["id"] == "p1" && $0["result"] == [:] })
        #expect(answers.contains { $0["id"] == 7 && $0["error"]?["code"] == -32601 })
        await tasks.finish(cancelling: true)
        await supervised
    }

    @Test("initialize is never cancelled at the server, even when it times out (the specification forbids it)")
    func initializeNotCancelled() async throws {
        await #expect(throws: BackendError.self) {
            _ = try await session.request(method: "initialize", params: [:], timeout: .milliseconds(20))
        }
        #expect(session.pendingCount == 0)
        #expect(transport.requests("notifications/cancelled").isEmpty)
    }

    @Test("an answer to a server request made before the transport is attached goes out on attach")
    func answerBeforeAttach() async throws {
        let early = RPCSession(serverID: "early", logger: Logger(label: "test"), tasks: tasks)
        let other = FakeTransport()
        other.events = early.events
        async let supervised: Void = tasks.run()
        other.deliver(["jsonrpc": "2.0", "id": "p0", "method": "ping"])
        // The answer is computed by the handler in the supervisor, with no transport to write to yet.
        try await eventually("the answer to wait for a transport") { early.unattachedCount == 1 }
        #expect(other.sent.withLock { $0.isEmpty })
        early.attach(other)
        #expect(other.sent.withLock { $0.contains { $0["id"] == "p0" && $0["result"] == [:] } })
        await tasks.finish(cancelling: true)
        await supervised
    }

    @Test("a closed transport fails every waiting request and refuses new ones")
    func closed() async throws {
        let call = Task { try await session.request(method: "x", params: nil, timeout: .seconds(600)) }
        _ = try await sentRequest("x")
        transport.events?.closed("the server closed its stdout")
        let error = await #expect(throws: BackendError.self) { _ = try await call.value }
        #expect(error?.kind == .closed)
        let late = await #expect(throws: BackendError.self) {
            _ = try await session.request(method: "y", params: nil, timeout: .seconds(1))
        }
        #expect(late?.message.contains("closed its stdout") == true)
    }

    @Test("a write that fails fails its request at once")
    func writeFailure() async throws {
        transport.failWrites.store(true, ordering: .relaxed)
        let error = await #expect(throws: BackendError.self) {
            _ = try await session.request(method: "x", params: nil, timeout: .seconds(600))
        }
        #expect(error?.message.contains("broken pipe") == true)
        #expect(session.pendingCount == 0)
    }

    @Test("an oversize answer fails the request it answers, found by the id in its first bytes")
    func oversize() async throws {
        let call = Task { try await session.request(method: "big", params: nil, timeout: .seconds(600)) }
        let id = try #require(try await sentRequest("big")["id"]?.intValue)
        transport.events?.oversize(Array("{\"jsonrpc\":\"2.0\",\"id\": \(id),\"result\":{\"x".utf8), 99_000_000)
        let error = await #expect(throws: BackendError.self) { _ = try await call.value }
        #expect(error?.kind == .protocolViolation)
        #expect(error?.message.contains("99000000 bytes") == true)
    }

    @Test("a batch from the server is taken message by message; a line that is not JSON is skipped")
    func batchAndGarbage() async throws {
        async let a = session.request(method: "a", params: nil, timeout: .seconds(60))
        async let b = session.request(method: "b", params: nil, timeout: .seconds(60))
        let ia = try await sentRequest("a")["id"]!
        let ib = try await sentRequest("b")["id"]!
        transport.events?.message(Array("not json".utf8))
        transport.deliver([["jsonrpc": "2.0", "id": ia, "result": 1], ["jsonrpc": "2.0", "id": ib, "result": 2]])
        #expect(try await a == .result(1))
        #expect(try await b == .result(2))
    }
}

@Suite("ConcurrencyLimit: max_concurrency with cancellable waiting")
struct ConcurrencyLimitTests {
    @Test("at most the limit at once; a released slot goes to the longest waiter")
    func limitAndOrder() async throws {
        let limit = ConcurrencyLimit(2)
        try await limit.acquire()
        try await limit.acquire()
        let order = Recorder<Int>()
        let first = Task {
            try await limit.acquire()
            order.append(1)
        }
        try await eventually("the first waiter to queue") { limit.waiting == 1 }
        let second = Task {
            try await limit.acquire()
            order.append(2)
        }
        try await eventually("the second waiter to queue") { limit.waiting == 2 }
        #expect(limit.active == 2)
        limit.release()
        try await first.value
        #expect(order.values == [1])
        limit.release()
        try await second.value
        #expect(order.values == [1, 2])
        #expect(limit.active == 2)
    }

    @Test("a cancelled waiter leaves the queue at once and holds no slot")
    func cancelledWaiter() async throws {
        let limit = ConcurrencyLimit(1)
        try await limit.acquire()
        let waiter = Task { try await limit.acquire() }
        try await eventually("the waiter to queue") { limit.waiting == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limit.waiting == 0)
        limit.release()
        #expect(limit.active == 0, "the cancelled waiter must not have taken the slot")
        try await limit.acquire()
        #expect(limit.active == 1)
    }
}

@Suite("TaskSupervisor and SharedOutcome")
struct TaskSupervisorTests {
    @Test("work runs at once; finish waits for running work; later spawns are refused")
    func lifecycle() async throws {
        let supervisor = TaskSupervisor()
        let ran = Recorder<Int>()
        #expect(supervisor.spawn { ran.append(1) })
        async let running: Void = supervisor.run()
        try await eventually("the work to run") { ran.values.count == 1 }
        let gate = SharedOutcome<Void>()
        supervisor.spawn {
            try? await gate.value()
            ran.append(1)
        }
        let finished = Task { await supervisor.finish() }
        gate.complete(.success(()))
        await finished.value
        #expect(!supervisor.spawn {}, "no work is taken once finished")
        let count = ran.values.count
        #expect(count == 2, "finish waits for running work")
        await running
    }

    @Test("finishing with cancellation cancels waiting work (restart timers, refreshes)")
    func cancelling() async {
        let supervisor = TaskSupervisor()
        let cancelled = Recorder<Bool>()
        let never = SharedOutcome<Void>()
        supervisor.spawn {
            if (try? await never.value()) == nil { cancelled.append(true) }
        }
        async let running: Void = supervisor.run()
        await supervisor.finish(cancelling: true)
        await running
        let wasCancelled = !cancelled.values.isEmpty
        #expect(wasCancelled)
    }

    @Test("run() returns when finish comes with nothing running (no task's end is left to wake it)")
    func finishIdle() async throws {
        let supervisor = TaskSupervisor()
        let returned = Recorder<Bool>()
        let owner = Task {
            await supervisor.run()
            returned.append(true)
        }
        let ran = Recorder<Bool>()
        supervisor.spawn { ran.append(true) }
        try await eventually("the work to end") { !ran.values.isEmpty }
        await supervisor.finish()
        try await eventually("run() to return") { !returned.values.isEmpty }
        await owner.value
    }

    @Test("spawnCancellable cancels its own work alone; cancelling run()'s task cancels all and returns")
    func cancellable() async throws {
        let supervisor = TaskSupervisor()
        let cancelled = Recorder<String>()
        let never = SharedOutcome<Void>()
        let cancelA = try #require(
            supervisor.spawnCancellable {
                if (try? await never.value()) == nil { cancelled.append("a") }
            })
        supervisor.spawn {
            if (try? await never.value()) == nil { cancelled.append("b") }
        }
        cancelA()
        try await eventually("a cancelled") { cancelled.values == ["a"] }
        let owner = Task { await supervisor.run() }
        owner.cancel()
        try await eventually("b cancelled with run()'s task") { cancelled.values.sorted() == ["a", "b"] }
        // A cancelled owner returns without a finish() (a test that fails mid-way cancels its `async let`).
        await owner.value
        let late = Recorder<Bool>()
        #expect(supervisor.spawn { late.append(true) }, "work spawned later (a shutdown's) still runs")
        await supervisor.finish()
        #expect(late.values == [true], "finish waits for it")
    }

    @Test("finish waits for work when nothing runs the supervisor")
    func finishUnclaimed() async {
        let supervisor = TaskSupervisor()
        let ran = Recorder<Bool>()
        supervisor.spawn { ran.append(true) }
        await supervisor.finish()
        let didRun = !ran.values.isEmpty
        #expect(didRun)
    }

    @Test("a shared outcome reaches every waiter; a cancelled waiter stops waiting alone")
    func sharedOutcome() async throws {
        let outcome = SharedOutcome<Int>()
        let a = Task { try await outcome.value() }
        let b = Task { try await outcome.value() }
        b.cancel()
        await #expect(throws: CancellationError.self) { try await b.value }
        outcome.complete(.success(4))
        outcome.complete(.success(5))
        #expect(try await a.value == 4)
        #expect(try await outcome.value() == 4)
    }
}

/// Values appended from any task.
final class Recorder<T: Sendable>: Sendable {
    private let storage = Mutex<[T]>([])
    func append(_ value: T) { storage.withLock { $0.append(value) } }
    var values: [T] { storage.withLock { $0 } }
}
