#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The JWS algorithms hotswap signs and verifies with. The key fixes the algorithm, never the token.
public enum TokenAlgorithm: String, Sendable, Hashable, Codable {
    /// Ed25519 (RFC 8037).
    case edDSA = "EdDSA"
    /// HMAC-SHA256 with a shared secret (RFC 7518 §3.2).
    case hs256 = "HS256"
}

/// A key for reload tokens: an Ed25519 private or public key, or an HMAC secret, with its key id.
public struct TokenKey: Sendable, Hashable {
    public enum Material: Sendable, Hashable {
        case ed25519Private(seed: [UInt8], publicKey: [UInt8])
        case ed25519Public([UInt8])
        case hmac(secret: [UInt8])
    }

    /// The `kid` header value this key answers to.
    public var kid: String
    public var material: Material

    public init(kid: String, material: Material) {
        self.kid = kid
        self.material = material
    }

    /// HMAC secrets shorter than this are refused (RFC 7518 §3.2 asks for at least the hash size).
    public static let minimumSecretBytes = 32

    public var algorithm: TokenAlgorithm {
        switch material {
        case .ed25519Private, .ed25519Public: return .edDSA
        case .hmac: return .hs256
        }
    }

    public var canSign: Bool {
        if case .ed25519Public = material { return false }
        return true
    }

    /// The key that verifies what this key signs (a private key's public half; a secret itself).
    public var verifyingKey: TokenKey {
        if case .ed25519Private(_, let pub) = material { return TokenKey(kid: kid, material: .ed25519Public(pub)) }
        return self
    }

    /// A description for listings: "kid (EdDSA public key)".
    public var summary: String {
        switch material {
        case .ed25519Private: return "\(kid) (EdDSA private key)"
        case .ed25519Public: return "\(kid) (EdDSA public key)"
        case .hmac(let s): return "\(kid) (HS256 secret, \(s.count) bytes)"
        }
    }

    /// The key id a file implies: `NAME.key.pem`, `NAME.pub.pem`, `NAME.secret` (and `NAME.pem`,
    /// `NAME.key`, `NAME.pub`) all give `NAME`.
    public static func defaultKid(forPath path: String) -> String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".key.pem", ".pub.pem", ".public.pem", ".private.pem", ".secret", ".pem", ".key", ".pub"]
        where name.hasSuffix(suffix) && name.count > suffix.count {
            name.removeLast(suffix.count)
            break
        }
        return name
    }

    /// Loads a key from a file: PEM (PKCS#8 private or SPKI public Ed25519), or anything else as an HMAC
    /// secret of at least 32 bytes. Trailing whitespace of a secret file (the newline `echo` and editors
    /// add) is not part of the secret.
    public static func load(path: String, kid: String? = nil) throws(KeyLoadError) -> TokenKey {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: 64 * 1024)
        } catch {
            throw KeyLoadError(path: path, message: error.reason, hint: "check the path and that the file is readable")
        }
        return try parse(bytes, kid: kid ?? defaultKid(forPath: path), path: path)
    }

    /// Parses key bytes as `load(path:)` does.
    public static func parse(_ bytes: [UInt8], kid: String, path: String = "<key>") throws(KeyLoadError) -> TokenKey {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN") {
            do {
                switch try Crypto.readPEM(bytes) {
                case .ed25519Private(let seed):
                    let pub = try Crypto.ed25519PublicKey(seed: seed)
                    return TokenKey(kid: kid, material: .ed25519Private(seed: seed, publicKey: pub))
                case .ed25519Public(let raw):
                    return TokenKey(kid: kid, material: .ed25519Public(raw))
                }
            } catch {
                throw KeyLoadError(
                    path: path, message: error.description,
                    hint: "make a key pair with `hotswap keygen --name \(kid)` or `openssl genpkey -algorithm ed25519`")
            }
        }
        var secret = bytes
        while let last = secret.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 {
            secret.removeLast()
        }
        guard secret.count >= minimumSecretBytes else {
            throw KeyLoadError(
                path: path,
                message: "an HMAC secret must be at least \(minimumSecretBytes) bytes, this one is \(secret.count)",
                hint: "make one with `hotswap keygen --hmac --name \(kid)` or `openssl rand -base64 48 > \(kid).secret`"
            )
        }
        return TokenKey(kid: kid, material: .hmac(secret: secret))
    }
}

/// A key file that could not be used.
public struct KeyLoadError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var hint: String?
    public var description: String { "\(path): \(message)" + (hint.map { "\n  hint: \($0)" } ?? "") }
}

/// The verify keys a gateway accepts, by key id. More than one at a time is how keys are rotated.
public struct Keyring: Sendable {
    public private(set) var keys: [String: TokenKey] = [:]

    public init(_ keys: [TokenKey] = []) throws(KeyLoadError) {
        for key in keys { try add(key) }
    }

    /// Adds a key (its verifying half). Two different keys with one kid are an error: a token could not
    /// say which it means.
    public mutating func add(_ key: TokenKey) throws(KeyLoadError) {
        let verifying = key.verifyingKey
        if let existing = keys[key.kid], existing != verifying {
            throw KeyLoadError(
                path: key.kid, message: "two different keys share the key id '\(key.kid)'",
                hint: "give one of them another id (--kid), or rename its file")
        }
        keys[key.kid] = verifying
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }
}
