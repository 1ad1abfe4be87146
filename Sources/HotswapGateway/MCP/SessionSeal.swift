import HotswapCore

/// Session ids that carry what a gateway needs to serve their session (issue 13, item 6): the protocol version
/// and the client's capabilities, under an HMAC. Any gateway holding the same key takes the session up: another
/// replica behind a load balancer without affinity, or this gateway after a restart or a rollout.
///
///     hs1.<base64url(JSON {"v": version, "c": capabilities, "n": 16 random bytes})>.<base64url(HMAC-SHA256)>
///
/// The random part keeps ids unguessable; the MAC keeps the payload as a gateway wrote it. It is integrity, not
/// authority: a session grants nothing that `initialize` does not grant anyone who reaches `/mcp`.
public struct SessionSeal: Sendable {
    let key: [UInt8]
    static let prefix = "hs1."
    /// Longer ids are not opened (real clients' capabilities take a few hundred bytes).
    static let maxLength = 4096

    public init(key: [UInt8]) { self.key = Crypto.sha256(Array("hotswap session id v1".utf8) + key) }

    /// A key of this process alone: its sessions end with it.
    public static func random() -> SessionSeal { SessionSeal(key: randomBytes(32)) }

    /// The system's generator (getrandom on Linux), as the gateway's session ids always used.
    static func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    /// The key every replica of a deployment shares without a `--session-key`: derived from the token keys they
    /// all mount (the same public key), so sessions travel between them with no secret of their own.
    public static func shared(by keys: [TokenKey]) -> SessionSeal {
        var material: [UInt8] = []
        for key in keys.sorted(by: { $0.kid < $1.kid }) {
            material += Array(key.kid.utf8) + [0]
            switch key.material {
            case .ed25519Private(_, let publicKey), .ed25519Public(let publicKey): material += publicKey
            case .hmac(let secret): material += Crypto.sha256(secret)
            }
        }
        return SessionSeal(key: material)
    }

    public func seal(version: String, capabilities: JSONValue) -> String {
        let payload: JSONValue = [
            "v": .string(version), "c": capabilities, "n": .string(hexString(Self.randomBytes(16))),
        ]
        let body = Self.prefix + Base64URL.encode(payload.serialized)
        return body + "." + Base64URL.encode(Crypto.hmacSHA256(key: key, message: Array(body.utf8)))
    }

    /// The version and capabilities of an id this key sealed; nil for any other string.
    public func open(_ id: String) -> (version: String, capabilities: JSONValue)? {
        guard id.utf8.count <= Self.maxLength, id.hasPrefix(Self.prefix), let dot = id.lastIndex(of: ".") else {
            return nil
        }
        let body = id[..<dot]
        guard let mac = Base64URL.decode(id[id.index(after: dot)...]),
            Crypto.constantTimeEqual(mac, Crypto.hmacSHA256(key: key, message: Array(body.utf8))),
            let bytes = Base64URL.decode(body.dropFirst(Self.prefix.count)),
            let payload = try? JSONValue.parse(bytes),
            let version = payload["v"]?.stringValue
        else { return nil }
        return (version, payload["c"] ?? [:])
    }
}
