#if canImport(Glibc)
    import Glibc
#endif

/// Where a gateway's API answers: its control socket, or a TCP address.
public enum ControlEndpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// "unix:/run/hotswap/control.sock", "/run/hotswap/control.sock", "http://127.0.0.1:4444".
    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("http://") {
            let rest = text.dropFirst(7).prefix { $0 != "/" }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
                return nil
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("/") || text.hasPrefix(".") {
            self = .unix(path: text)
        } else {
            return nil
        }
    }

    /// An `http://HOST:PORT/PATH` URL as the endpoint and the request path (`/` when it names none).
    public static func url(_ text: String) -> (endpoint: ControlEndpoint, path: String)? {
        guard text.hasPrefix("http://"), let endpoint = ControlEndpoint(text) else { return nil }
        let afterScheme = text.dropFirst("http://".count)
        return (endpoint, afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/")
    }

    /// What a request's `Host` header says: the address itself over TCP (a gateway checks it against DNS
    /// rebinding), `localhost` on a Unix socket.
    public var hostHeader: String {
        switch self {
        case .unix: return "localhost"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "http://\(host):\(port)"
        }
    }
}

extension ControlEndpoint {
    /// The control socket when none is named: in a directory only this user can enter, never a fixed name in a
    /// shared one (where another local user could listen first and collect tokens): `$XDG_RUNTIME_DIR/hotswap/`,
    /// `/run/hotswap/` for root, `$HOME/.hotswap/`, else `/tmp/hotswap-UID/`, each holding `control.sock`.
    public static var defaultSocketPath: String {
        if let xdg = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), xdg.hasPrefix("/") {
            return "\(xdg)/hotswap/control.sock"
        }
        if geteuid() == 0 { return "/run/hotswap/control.sock" }
        // Not /tmp when there is a home: another user could make /tmp/hotswap-UID first, and the sticky /tmp
        // would not let its rightful user remove it.
        if let home = getenv("HOME").map({ String(cString: $0) }), home.hasPrefix("/"), home != "/" {
            return "\(home)/.hotswap/control.sock"
        }
        return "/tmp/hotswap-\(geteuid())/control.sock"
    }

    /// Uids a control socket may belong to: this user's, root's, and those in `HOTSWAP_SOCKET_UID`
    /// (comma-separated), for a gateway that runs as another user on purpose.
    public static var trustedSocketUIDs: Set<uid_t> {
        var uids: Set<uid_t> = [geteuid(), 0]
        if let extra = getenv("HOTSWAP_SOCKET_UID").map({ String(cString: $0) }) {
            for part in extra.split(separator: ",") { if let uid = uid_t(part.trimmedForUID()) { uids.insert(uid) } }
        }
        return uids
    }
}

extension StringProtocol {
    func trimmedForUID() -> String { String(self).filter { !$0.isWhitespace } }
}
