import Foundation
import HotswapSidecar
import HotswapTestSupport
import Testing

/// The signalers' own logic, in-process: what they make of their settings and where they find the gateway.
@Suite("Signalers (in-process)")
struct SignalerTests {
    @Test("--signal http takes the URL's path, and refuses what is not http://HOST:PORT/PATH")
    func httpURL() throws {
        let s = try HTTPSignaler(url: "http://127.0.0.1:8080/-/reload", bearerFile: nil)
        #expect(s.path == "/-/reload")
        #expect(try HTTPSignaler(url: "http://127.0.0.1:8080", bearerFile: nil).path == "/")
        #expect(throws: SidecarSetupError.self) { try HTTPSignaler(url: "ftp://x/reload", bearerFile: nil) }
    }

    @Test("--signal sighup finds the gateway by its pid file, and reports a stale one as missing")
    func pidFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/gateway.pid"
        try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(SignalSignaler(pidFile: path, processName: nil, tokenFile: nil).findPID() == getpid())
        try "2147483646\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(SignalSignaler(pidFile: path, processName: nil, tokenFile: nil).findPID() == nil)
        #expect(SignalSignaler(pidFile: dir.path + "/none", processName: nil, tokenFile: nil).findPID() == nil)
    }
}
