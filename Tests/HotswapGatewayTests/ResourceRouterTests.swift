import HotswapCore
import Testing

@testable import HotswapGateway

@Suite("Resource routing (pure): URIs, templates, conflicts, log attribution")
struct ResourceRouterTests {
    @Test("RFC 6570 templates as patterns: simple, reserved, path and query expressions")
    func templates() {
        #expect(URITemplate("memo://notes/{topic}").matches("memo://notes/swap"))
        #expect(!URITemplate("memo://notes/{topic}").matches("memo://notes/a/b"), "a simple expression stops at /")
        #expect(URITemplate("file:///{+path}").matches("file:///etc/hosts"))
        #expect(URITemplate("db://{table}/rows{?limit,offset}").matches("db://users/rows?limit=5&offset=10"))
        #expect(URITemplate("db://{table}/rows{?limit,offset}").matches("db://users/rows"))
        #expect(!URITemplate("memo://notes/{topic}").matches("memo://other/swap"))
        #expect(URITemplate("a{x}b{y}c").matches("a1b2c"))
        #expect(!URITemplate("a{x}b{y}c").matches("a1b2"))
        // No blow-up on many expressions and a long URI that does not match.
        let many = URITemplate(String(repeating: "{x}-", count: 40) + "end")
        #expect(!many.matches(String(repeating: "a-", count: 2000) + "nope"))
    }

    @Test("exact URIs first (first server in catalog order wins, the other reported), then templates in order")
    func owners() {
        let router = ResourceRouter([
            (id: "a", resources: [["uri": "memo://readme"]], templates: [["uriTemplate": "memo://a/{x}"]]),
            (
                id: "b", resources: [["uri": "memo://readme"], ["uri": "memo://a/listed"]],
                templates: [["uriTemplate": "memo://{any}/{x}"]]
            ),
        ])
        #expect(router.owner(of: "memo://readme") == "a")
        #expect(router.conflicts == [.init(uri: "memo://readme", owner: "a", ignored: "b")])
        #expect(router.owner(of: "memo://a/listed") == "b", "an exact listing beats a template")
        #expect(router.owner(of: "memo://a/other") == "a")
        #expect(router.owner(of: "memo://z/other") == "b")
        #expect(router.owner(of: "http://nowhere") == nil)
    }

    @Test("a server's log message names the server in logger")
    func attribution() {
        let bare: JSONValue = ["jsonrpc": "2.0", "method": "notifications/message", "params": ["level": "info"]]
        #expect(SessionStreams.attributed(bare, to: "s")["params"]?["logger"] == "s")
        let named: JSONValue = [
            "jsonrpc": "2.0", "method": "notifications/message", "params": ["level": "info", "logger": "db"],
        ]
        #expect(SessionStreams.attributed(named, to: "s")["params"]?["logger"] == "s/db")
    }

    @Test("subscriptions: updates reach only subscribed sessions; the last unsubscribe empties the URI")
    func subscriptions() async {
        let streams = SessionStreams()
        let (_, one) = streams.open(session: "one")!
        let (_, two) = streams.open(session: "two")!
        streams.subscribe(session: "one", uri: "memo://x")
        let update: JSONValue = [
            "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": ["uri": "memo://x"],
        ]
        streams.serverNotification("s", update)
        streams.closeAll()
        var gotOne: [JSONValue] = []
        for await m in one { gotOne.append(m) }
        var gotTwo: [JSONValue] = []
        for await m in two { gotTwo.append(m) }
        #expect(gotOne == [update])
        #expect(gotTwo.isEmpty)
        #expect(streams.hasSubscribers("memo://x"))
        #expect(streams.unsubscribe(session: "one", uri: "memo://x"))
        #expect(!streams.hasSubscribers("memo://x"))
    }
}
