import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The claims of a reload token (DESIGN, "Signed reload token").
public struct ReloadClaims: Sendable, Hashable, Codable {
    /// Who minted it (the sidecar, an operator, CI). Tokens from one issuer must not go back in time.
    public var iss: String
    /// The gateways it is meant for; one must be the verifying gateway's `--audience`.
    public var aud: [String]
    /// Issued-at and expiry, seconds since the epoch.
    public var iat: Int64
    public var exp: Int64
    /// 128 random bits, so a token is accepted once.
    public var jti: String
    /// The operation it allows: `reload`, `server.stop`, `server.start`, `server.restart`.
    public var op: String
    /// Hex SHA-256 of the catalog bytes it allows to be applied.
    public var sha256: String?
    /// The server id, for server operations.
    public var server: String?
    /// Not before (RFC 7519 §4.1.5), seconds since the epoch; optional.
    public var nbf: Int64?

    public init(
        iss: String, aud: [String], iat: Int64, exp: Int64, jti: String, op: String, sha256: String? = nil,
        server: String? = nil
    ) {
        self.iss = iss
        self.aud = aud
        self.iat = iat
        self.exp = exp
        self.jti = jti
        self.op = op
        self.sha256 = sha256
        self.server = server
    }

    /// Fresh claims with a random `jti`, valid from `now` for `ttl` seconds.
    public static func make(
        op: String, sha256: String?, audience: String, issuer: String, ttlSeconds: Int64,
        server: String? = nil, now: Int64 = ReloadClaims.now()
    ) throws(Crypto.Failure) -> ReloadClaims {
        ReloadClaims(
            iss: issuer, aud: [audience], iat: now, exp: now + ttlSeconds,
            jti: hexString(try Crypto.randomBytes(16)), op: op, sha256: sha256?.lowercased(), server: server)
    }

    /// Seconds since the epoch.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    enum CodingKeys: String, CodingKey { case iss, aud, iat, exp, jti, op, sha256, server, nbf }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try c.decodeIfPresent(String.self, forKey: .iss) ?? ""
        if let one = try? c.decode(String.self, forKey: .aud) {
            aud = [one]
        } else {
            aud = try c.decode([String].self, forKey: .aud)
        }
        iat = try Self.numericDate(c, .iat)
        exp = try Self.numericDate(c, .exp)
        jti = try c.decode(String.self, forKey: .jti)
        op = try c.decode(String.self, forKey: .op)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256)
        server = try c.decodeIfPresent(String.self, forKey: .server)
        nbf = c.contains(.nbf) ? try Self.numericDate(c, .nbf) : nil
    }

    /// The largest NumericDate taken (about the year 33,000): anything beyond is a forgery or a bug, and
    /// keeping times this small means no arithmetic on them can overflow.
    static let maxNumericDate: Double = 1e12

    /// A NumericDate (RFC 7519 §2): seconds, maybe with a fraction; whole seconds are what is compared.
    /// Out of range, infinite or not a number is a decoding error (a `malformed` refusal), never a trap.
    static func numericDate(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64 {
        let value = try c.decode(Double.self, forKey: key)
        guard value.isFinite, abs(value) <= maxNumericDate else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "claim '\(key.stringValue)' is out of range")
        }
        return Int64(value.rounded(.down))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(iss, forKey: .iss)
        if aud.count == 1 { try c.encode(aud[0], forKey: .aud) } else { try c.encode(aud, forKey: .aud) }
        try c.encode(iat, forKey: .iat)
        try c.encode(exp, forKey: .exp)
        try c.encode(jti, forKey: .jti)
        try c.encode(op, forKey: .op)
        try c.encodeIfPresent(sha256, forKey: .sha256)
        try c.encodeIfPresent(server, forKey: .server)
        try c.encodeIfPresent(nbf, forKey: .nbf)
    }
}

/// The JOSE header of a reload token.
struct ReloadTokenHeader: Codable {
    var alg: String
    var typ: String?
    var kid: String?
    var crit: [String]?
}

/// Why a token was refused: a machine-readable reason and a sentence for the operator.
public struct TokenRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable, CaseIterable, Codable {
        case missing, malformed
        case unknownKey = "unknown_key"
        case algMismatch = "alg_mismatch"
        case badSignature = "bad_signature"
        case wrongType = "wrong_type"
        case wrongAudience = "wrong_audience"
        case expired
        case notYetValid = "not_yet_valid"
        case ttlTooLong = "ttl_too_long"
        case replayed
        case wrongOp = "wrong_op"
        case hashMismatch = "hash_mismatch"

        /// 401 when the caller is not authenticated; 403 when it is but may not do this.
        public var httpStatus: Int {
            switch self {
            case .wrongAudience, .replayed, .wrongOp, .hashMismatch: return 403
            default: return 401
            }
        }
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }
}

/// What the route being called requires of a token.
public struct TokenExpectation: Sendable, Hashable {
    public var op: String
    /// The hex SHA-256 of the bytes about to be applied; nil when the route carries no content.
    public var sha256: String?
    public var server: String?

    public init(op: String, sha256: String? = nil, server: String? = nil) {
        self.op = op
        self.sha256 = sha256
        self.server = server
    }
}

/// The `typ` header value of a reload token.
public let reloadTokenType = "hotswap-reload+jwt"

/// Mints JWS compact tokens (RFC 7515) with an Ed25519 private key or an HMAC secret.
public struct ReloadTokenSigner: Sendable {
    public let key: TokenKey

    public init(key: TokenKey) throws(KeyLoadError) {
        guard key.canSign else {
            throw KeyLoadError(
                path: key.kid, message: "a public key cannot sign",
                hint: "sign with the private key (NAME.key.pem); the gateway verifies with NAME.pub.pem")
        }
        self.key = key
    }

    /// Fresh claims (random `jti`, `iat` now) signed in one step: what every minter needs.
    public func mint(
        op: String, sha256: String?, audience: String, issuer: String, ttlSeconds: Int64, server: String? = nil
    ) throws(Crypto.Failure) -> String {
        try sign(
            try ReloadClaims.make(
                op: op, sha256: sha256, audience: audience, issuer: issuer, ttlSeconds: ttlSeconds, server: server))
    }

    public func sign(_ claims: ReloadClaims) throws(Crypto.Failure) -> String {
        let header = ReloadTokenHeader(alg: key.algorithm.rawValue, typ: reloadTokenType, kid: key.kid, crit: nil)
        let headerJSON: [UInt8]
        let claimsJSON: [UInt8]
        do {
            headerJSON = try JSONValue.encode(header)
            claimsJSON = try JSONValue.encode(claims)
        } catch {
            throw Crypto.Failure("cannot encode the token as JSON: \(error)")
        }
        let signingInput = Base64URL.encode(Array(headerJSON)) + "." + Base64URL.encode(Array(claimsJSON))
        let input = Array(signingInput.utf8)
        let signature: [UInt8]
        switch key.material {
        case .ed25519Private(let seed, _): signature = try Crypto.ed25519Sign(seed: seed, message: input)
        case .hmac(let secret): signature = Crypto.hmacSHA256(key: secret, message: input)
        case .ed25519Public: throw Crypto.Failure("a public key cannot sign")
        }
        return signingInput + "." + Base64URL.encode(signature)
    }
}

/// Verifies reload tokens: signature, type, audience, time window, single use, operation and content hash.
///
/// One verifier lives as long as the gateway: it remembers every accepted `jti` until that token expires,
/// and the newest applied `iat` of each issuer, so a captured token cannot be replayed.
