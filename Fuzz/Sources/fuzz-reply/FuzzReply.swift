// libFuzzer target: the control client's HTTP/1.1 reply parser (status line, headers, Content-Length,
// chunked transfer coding), which the CLI and the sidecar run on whatever a peer sends; and the event-stream
// parser the gateway runs on what remote MCP servers send (the same bytes, read as an event stream).
//
// The client reads into a buffer and parses it after every read, stopping at the first complete reply, so
// the outcome must not depend on where the reads split the bytes. Properties, each a crash when broken:
// - parsing never traps, whatever the bytes;
// - a prefix that parses as complete gives the very reply the whole input gives;
// - a prefix that is refused means the whole input is refused too.

import HotswapCore

@testable import HotswapClient

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReply(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = Result { () throws(ReplyParseError) in try ControlClient.parse(bytes) }
    // A few split points rather than all of them: each parse is linear in the input.
    for cut in Set([size - 1, size / 2, size / 3, size - 7]) where cut > 0 && cut < size {
        switch Result(catching: { () throws(ReplyParseError) in try ControlClient.parse(Array(bytes[..<cut])) }) {
        case .failure(let error):
            guard case .failure = whole else {
                fatalError("the first \(cut) bytes are refused (\(error)) but all \(size) are not")
            }
        case .success(let partial?) where partial.complete:
            guard case .success(let full?) = whole, full.complete, same(partial.reply, full.reply) else {
                fatalError("the first \(cut) bytes are a complete reply, but all \(size) bytes give \(whole)")
            }
        case .success:
            break
        }
    }
    fuzzEventStream(bytes)
    return 0
}

/// The events of a stream must not depend on where the reads split it, and an event over the limit is
/// dropped whole (counted), never cut.
func fuzzEventStream(_ bytes: [UInt8]) {
    var whole = SSEParser(maxEventBytes: 256)
    let expected = whole.feed(bytes)
    for cut in Set([1, bytes.count / 2, bytes.count / 3, max(bytes.count - 1, 0)]) where cut < bytes.count {
        var split = SSEParser(maxEventBytes: 256)
        let events = split.feed(bytes[..<cut]) + split.feed(bytes[cut...])
        guard events == expected, split.oversized == whole.oversized else {
            fatalError("an event stream split at \(cut) gives \(events), whole \(expected)")
        }
    }
    for event in expected where event.data.count > 256 {
        fatalError("an event of \(event.data.count) bytes passed the limit of 256")
    }
}

func same(_ a: HTTPReply, _ b: HTTPReply) -> Bool {
    a.status == b.status && a.body == b.body && a.headers.map { [$0.0, $0.1] } == b.headers.map { [$0.0, $0.1] }
}
