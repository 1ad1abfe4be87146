import HotswapAPI
import Testing

@Suite("ListenAddress: --listen as the gateway and the sidecar take it")
struct ListenAddressTests {
    @Test(
        "host and port, IPv6 in brackets, a bare port for every interface",
        arguments: [
            ("127.0.0.1:4444", "127.0.0.1", 4444), ("[::1]:80", "::1", 80), (":9000", "0.0.0.0", 9000),
            ("9000", "0.0.0.0", 9000), ("gateway:0", "gateway", 0),
        ])
    func parses(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(
        "a bad address names the flag, the text and an example",
        arguments: ["", "host", "h:", "h:65536", "h:-1", "h:x"])
    func refuses(text: String) {
        #expect {
            try ListenAddress(parsing: text, flag: "--metrics-listen")
        } throws: { error in
            let message = "\(error)"
            return message.contains("--metrics-listen '\(text)'") && message.contains("127.0.0.1:4444")
        }
    }

    @Test func printsIPv6InBrackets() {
        #expect(ListenAddress(host: "::1", port: 80).description == "[::1]:80")
        #expect(ListenAddress(host: "localhost", port: 80).description == "localhost:80")
    }
}
