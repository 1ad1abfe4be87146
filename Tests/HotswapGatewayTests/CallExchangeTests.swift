import HotswapCore
import Testing

@testable import HotswapGateway

/// What waits for a client that reads its call's event stream slowly, or not at all: bounded, and the reply
/// always comes last.
@Suite("CallExchange: a bounded event stream")
struct CallExchangeTests {
    func progress(_ n: Int) -> JSONValue {
        [
            "jsonrpc": "2.0", "method": "notifications/progress",
            "params": ["progressToken": "p", "progress": .int(Int64(n))],
        ]
    }

    @Test("past the limit notifications are dropped and counted, a server's request is refused, the reply arrives")
    func bounded() async {
        let exchange = CallExchange(requestID: 7)
        let limit = CallExchange.bufferLimit
        for n in 0..<limit { #expect(exchange.emit(progress(n))) }
        #expect(!exchange.emit(progress(limit)))
        // A server's request that cannot be delivered must say so: its ask then fails instead of waiting.
        #expect(!exchange.emit(["jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage", "params": [:]]))
        #expect(exchange.dropped.load(ordering: .relaxed) == 2)
        exchange.finish(["jsonrpc": "2.0", "id": 7, "result": ["content": []]])
        var received: [JSONValue] = []
        await exchange.forEachMessage { received.append($0) }
        #expect(received.count == limit + 1)
        #expect(received.first == progress(0))
        #expect(received[limit - 1] == progress(limit - 1))
        #expect(received.last?["id"] == 7 && received.last?["result"] != nil)
    }

    @Test("a reader that keeps up loses nothing, however many messages")
    func keepingUp() async {
        let exchange = CallExchange(requestID: 1)
        let total = CallExchange.bufferLimit * 3
        let reader = Task {
            var count = 0
            await exchange.forEachMessage { _ in count += 1 }
            return count
        }
        var accepted = 0
        for n in 0..<total {
            // A writer faster than the reader waits for room here: the test is about losing nothing.
            while !exchange.emit(progress(n)) { await Task.yield() }
            accepted += 1
        }
        exchange.finish(["jsonrpc": "2.0", "id": 1, "result": [:]])
        #expect(accepted == total)
        #expect(await reader.value == total + 1)
    }
}
