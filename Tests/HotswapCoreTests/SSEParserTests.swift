import HotswapCore
import Testing

/// The event-stream parser the gateway runs on remote servers' answers.
@Suite("SSEParser: text/event-stream as the HTML standard reads it")
struct SSEParserTests {
    func events(_ text: String, limit: Int = 1 << 20) -> [SSEParser.Event] {
        var parser = SSEParser(maxEventBytes: limit)
        return parser.feed(Array(text.utf8))
    }

    func data(_ event: SSEParser.Event) -> String { String(decoding: event.data, as: UTF8.self) }

    @Test("data lines joined, names, ids kept for later events, comments and retry skipped")
    func fields() {
        let got = events(
            ": keep-alive\nretry: 10\nid: 7\nevent: message\ndata: {\"a\":1}\n\ndata: x\ndata:y\n\nevent: ping\ndata\n\n"
        )
        #expect(got.count == 3)
        #expect(got[0] == SSEParser.Event(id: "7", name: "message", data: Array("{\"a\":1}".utf8)))
        #expect(data(got[1]) == "x\ny" && got[1].id == "7" && got[1].name == "message")
        #expect(got[2].name == "ping" && data(got[2]) == "")
    }

    @Test("CRLF, CR and LF line ends, a CR and its LF split across reads")
    func lineEnds() {
        var parser = SSEParser()
        var got = parser.feed(Array("data: a\r".utf8))
        got += parser.feed(Array("\n\r\ndata: b\r\rdata: c\n\n".utf8))
        #expect(got.map(data) == ["a", "b", "c"])
    }

    @Test("an unfinished event at the end is not an event; one over the limit is dropped whole and counted")
    func limits() {
        #expect(events("data: never finished\n").isEmpty)
        var parser = SSEParser(maxEventBytes: 12)
        let got = parser.feed(Array("data: 0123456789\ndata: more\n\ndata: ok\n\n".utf8))
        #expect(got.map(data) == ["ok"])
        #expect(parser.oversized == 1)
    }
}
