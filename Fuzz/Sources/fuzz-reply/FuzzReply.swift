// libFuzzer target: the control client's HTTP/1.1 reply parser (status line, headers, Content-Length,
// chunked transfer coding), which the CLI and the sidecar run on whatever a peer sends.
//
// The client reads into a buffer and parses it after every read, stopping at the first complete reply, so
// the outcome must not depend on where the reads split the bytes. Properties, each a crash when broken:
// - parsing never traps, whatever the bytes;
// - a prefix that parses as complete gives the very reply the whole input gives;
// - a prefix that is refused means the whole input is refused too.

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
    return 0
}

func same(_ a: HTTPReply, _ b: HTTPReply) -> Bool {
    a.status == b.status && a.body == b.body && a.headers.map { [$0.0, $0.1] } == b.headers.map { [$0.0, $0.1] }
}
