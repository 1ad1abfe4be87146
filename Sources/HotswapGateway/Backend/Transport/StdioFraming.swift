import Dispatch
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore
import NIOPosix
import Synchronization

final class OrderedDelivery: Sendable {
    /// Messages from this size up are parsed off the event loop.
    static let inlineLimit = 256 << 10
    private let queue: DispatchQueue
    private let queued = Atomic<Int>(0)

    init(label: String) {
        queue = DispatchQueue(label: "hotswap.backend.\(label)")
    }

    /// Called from the channel's event loop only (one producer), so "nothing queued" cannot change under it
    /// except by the queue draining, which only makes inline handling safer.
    func deliver(size: Int, _ work: @escaping @Sendable () -> Void) {
        if size < Self.inlineLimit && queued.load(ordering: .acquiring) == 0 {
            work()
            return
        }
        queued.add(1, ordering: .acquiringAndReleasing)
        queue.async {
            work()
            self.queued.subtract(1, ordering: .acquiringAndReleasing)
        }
    }
}

/// A server's stderr into the gateway's log, bounded: lines cut at `maxLineBytes`, at most `linesPerSecond`
/// (with a burst), and what was dropped counted and said. A server that floods its stderr costs the gateway a
/// bounded share of a core and of the log, not 70 % of a core and 26 MB/s.
final class StderrRelay: Sendable {
    static let maxLineBytes = 4096
    static let linesPerSecond = 200.0
    static let burst = 400.0

    private struct Bucket {
        var tokens = StderrRelay.burst
        var last = ContinuousClock.now
        var dropped = 0
        var droppedTotal = 0
    }

    private let bucket = Mutex(Bucket())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Lines dropped so far.
    var dropped: Int { bucket.withLock { $0.droppedTotal } }

    func line(_ bytes: [UInt8]) {
        let (emit, droppedBefore) = bucket.withLock { b -> (Bool, Int) in
            let now = ContinuousClock.now
            b.tokens = min(Self.burst, b.tokens + (now - b.last).inSeconds * Self.linesPerSecond)
            b.last = now
            guard b.tokens >= 1 else {
                b.dropped += 1
                b.droppedTotal += 1
                return (false, 0)
            }
            b.tokens -= 1
            defer { b.dropped = 0 }
            return (true, b.dropped)
        }
        if droppedBefore > 0 { reportDropped(droppedBefore) }
        guard emit else { return }
        var text = String(decoding: bytes.prefix(Self.maxLineBytes), as: UTF8.self)
        if bytes.count > Self.maxLineBytes { text += " [cut at \(Self.maxLineBytes) bytes]" }
        logger.info("\(text)")
    }

    /// Says how many lines were dropped since the last one logged (at the end of the stream too).
    func flush() {
        let dropped = bucket.withLock { b -> Int in
            defer { b.dropped = 0 }
            return b.dropped
        }
        if dropped > 0 { reportDropped(dropped) }
    }

    private func reportDropped(_ count: Int) {
        logger.warning(
            "stderr: \(count) lines dropped (over \(Int(Self.linesPerSecond)) lines/s)",
            metadata: ["stderr.dropped": "\(count)"])
    }
}

/// Splits a byte stream into lines (without the newline), in time linear in the bytes: each byte is searched
/// for a newline once, however many reads a long line takes to arrive (a rescan of the whole buffer on every
/// read made a 50 MB result cost seconds of CPU). A line over `maxLine` is not buffered: it is skipped up to its
/// newline and reported to `onOversize` with its first bytes and its size, so one huge message fails alone and
/// the connection lives on.
final class LineHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct Pending {
        var bytes: [UInt8] = []
        /// How far `bytes` has been searched for a newline.
        var scanned = 0
        /// Skipping the rest of an oversize line: its first bytes and its size so far.
        var oversize: (head: [UInt8], size: Int)?
    }

    private enum Event {
        case line([UInt8])
        case oversize(head: [UInt8], size: Int)
    }

    private let pending = Mutex(Pending())
    private let maxLine: Int
    private let onLine: @Sendable ([UInt8]) -> Void
    private let onOversize: @Sendable ([UInt8], Int) -> Void
    private let onClose: @Sendable () -> Void
    /// The largest message a backend may send (64 MiB): a bound on the memory one line can take.
    static let defaultMaxLine = 64 << 20
    static let headBytes = 1024

    init(
        maxLine: Int = LineHandler.defaultMaxLine, onLine: @escaping @Sendable ([UInt8]) -> Void,
        onOversize: @escaping @Sendable ([UInt8], Int) -> Void = { _, _ in },
        onClose: @escaping @Sendable () -> Void
    ) {
        self.maxLine = maxLine
        self.onLine = onLine
        self.onOversize = onOversize
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let incoming = unwrapInboundIn(data)
        let events = pending.withLock { p -> [Event] in
            var events: [Event] = []
            incoming.withUnsafeReadableBytes { raw in
                var rest = raw[...]
                // Skipping an oversize line: drop bytes up to its newline.
                if p.oversize != nil {
                    if let nl = rest.firstIndex(of: 0x0A) {
                        let size = p.oversize!.size + (nl - rest.startIndex)
                        events.append(.oversize(head: p.oversize!.head, size: size))
                        p.oversize = nil
                        rest = rest[(nl + 1)...]
                    } else {
                        p.oversize!.size += rest.count
                        return
                    }
                }
                p.bytes.append(contentsOf: rest)
            }
            guard p.oversize == nil else { return events }
            var start = 0
            var from = p.scanned
            while let nl = Self.newline(in: p.bytes, from: from) {
                if start == 0, nl == p.bytes.count - 1 {
                    // The usual case, and the one that matters for a large result: the buffer holds exactly one
                    // message. It is handed over as it is, not copied.
                    var whole = p.bytes
                    p.bytes = []
                    whole.removeLast()
                    events.append(.line(whole))
                    break
                }
                events.append(.line(Array(p.bytes[start..<nl])))
                start = nl + 1
                from = start
            }
            if start > 0 { p.bytes.removeFirst(start) }
            p.scanned = p.bytes.count
            if p.bytes.count > maxLine {
                p.oversize = (Array(p.bytes.prefix(Self.headBytes)), p.bytes.count)
                p.bytes = []
                p.scanned = 0
            }
            return events
        }
        for event in events {
            switch event {
            case .line(let line): onLine(line)
            case .oversize(let head, let size): onOversize(head, size)
            }
        }
    }

    /// The index of the first newline at or after `from` (memchr: the scan runs over every byte of a result).
    static func newline(in bytes: [UInt8], from: Int) -> Int? {
        bytes.withUnsafeBytes { raw in
            guard from < raw.count, let base = raw.baseAddress,
                let hit = memchr(base + from, 0x0A, raw.count - from)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let rest = pending.withLock { p -> [UInt8] in
            defer { p = Pending() }
            return p.oversize == nil ? p.bytes : []
        }
        if !rest.isEmpty { onLine(rest) }
        onClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
