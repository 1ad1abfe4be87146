import HotswapTestSupport
import Synchronization
import Testing

@testable import HotswapGateway

@Suite("OrderedDelivery: a backend's messages in order, large ones off the event loop")
struct OrderedDeliveryTests {
    @Test("small and large messages, and the close after them, are handled in the order they came")
    func order() async throws {
        let delivery = OrderedDelivery(label: "test")
        let seen = Mutex<[Int]>([])
        let done = Mutex(false)
        var sizes: [Int] = []
        for i in 0..<2000 { sizes.append(i % 97 == 0 ? OrderedDelivery.inlineLimit : 10) }
        for (i, size) in sizes.enumerated() {
            delivery.deliver(size: size) { seen.withLock { $0.append(i) } }
        }
        delivery.deliver(size: 0) { done.withLock { $0 = true } }
        try await eventually("every message to be handled") { done.withLock { $0 } }
        #expect(seen.withLock { $0 } == Array(0..<2000))
    }
}
