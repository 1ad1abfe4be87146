/// A TCP listen address as `--listen` takes it: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` / `PORT` for every
/// interface. Shared by the gateway's and the sidecar's listeners, so both accept and refuse the same text.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text`; `flag` names the option in the error (`--listen`, `--metrics-listen`).
    public init(parsing text: String, flag: String = "--listen") throws(Invalid) {
        var host = "0.0.0.0"
        var portText = text
        if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
            if !h.isEmpty { host = h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw Invalid(description: "\(flag) '\(text)': expected HOST:PORT, e.g. 127.0.0.1:4444")
        }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
