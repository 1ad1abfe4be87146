import Testing

@testable import HotswapClient

/// The CLI's and sidecar's HTTP reply parser against hostile peers: errors, never traps.
@Suite struct ReplyParserTests {
    static func parse(_ text: String) throws -> (reply: HTTPReply, complete: Bool)? {
        try ControlClient.parse(Array(text.utf8))
    }

    @Test func wellFormedReplies() throws {
        let plain = try #require(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(plain.complete && plain.reply.status == 200 && plain.reply.text == "hello")
        let partial = try #require(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello"))
        #expect(!partial.complete)
        let chunked = try #require(
            try Self.parse(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"))
        #expect(chunked.complete && chunked.reply.text == "hello world")
        let halfChunk = try #require(try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\nhel"))
        #expect(!halfChunk.complete)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n") == nil)
    }

    /// Issue 8, item 2: `start + size + 2` overflowed on a huge chunk size, and a signed size sliced backwards.
    @Test(arguments: [
        "7fffffffffffffff", "ffffffffffffffff", "8000000000000000", "fffffffffffffffe", "-5", "+5", "-0x10", "",
        "zz", "1 2", "10000000000000000000000",
    ])
    func hostileChunkSizesAreErrors(size: String) {
        let reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nabcdefgh\r\n0\r\n\r\n"
        #expect(throws: (any Error).self) { try Self.parse(reply) }
    }

    @Test(arguments: ["-1", "-9223372036854775808", "99999999999999999999", "1e3", " ", "0x10", "+4"])
    func hostileContentLengthsAreErrors(length: String) {
        #expect(throws: (any Error).self) { try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: \(length)\r\n\r\nabcd") }
    }

    @Test func badStatusLinesAndEndlessHeadsAreErrors() {
        for head in ["HTTP/1.1 99999999999999999999 X", "SSH-2.0-OpenSSH", "HTTP/1.1 -200 OK", "HTTP/1.1"] {
            #expect(throws: (any Error).self, "\(head)") { try Self.parse(head + "\r\n\r\n") }
        }
        let endless = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 70_000)
        #expect(throws: (any Error).self) { try Self.parse(endless) }
        let endlessChunkLine =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "0", count: 2000)
        #expect(throws: (any Error).self) { try Self.parse(endlessChunkLine) }
    }

    @Test func aChunkWithoutItsCRLFIsAnError() {
        #expect(throws: (any Error).self) {
            try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n")
        }
    }

    /// Found with the fuzz-reply target: a chunk-size line over 1 KiB was refused when it arrived in pieces but
    /// taken when it arrived whole.
    @Test func aLongChunkLineIsRefusedHoweverItArrives() {
        let reply =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=" + String(repeating: "a", count: 3000)
            + "\r\nhello\r\n0\r\n\r\n"
        #expect(throws: (any Error).self) { try Self.parse(reply) }
    }
}
