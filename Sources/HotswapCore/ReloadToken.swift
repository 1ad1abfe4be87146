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
public final class ReloadTokenVerifier: Sendable {
    public let keyring: Keyring
    public let audience: String
    /// The longest `exp - iat` accepted (default 5 minutes): a leaked token is useless soon after.
    public let maxTTL: Int64
    /// Clock difference tolerated between minter and gateway (default 60 s: containers share a host clock,
    /// but an operator's laptop may not).
    public let clockSkew: Int64

    private struct ReplayState {
        var seen: [String: Int64] = [:]
        var newestApplied: [String: Int64] = [:]
        var lastPrune: Int64 = 0
    }

    private let state = Mutex(ReplayState())

    public init(keyring: Keyring, audience: String, maxTTL: Int64 = 300, clockSkew: Int64 = 60) {
        self.keyring = keyring
        self.audience = audience
        self.maxTTL = maxTTL
        self.clockSkew = clockSkew
    }

    /// Checks `token` and, when `consume` is true, records its `jti` so it is never accepted again.
    public func verify(
        _ token: String, expecting expectation: TokenExpectation, now: Int64 = ReloadClaims.now(),
        consume: Bool = true
    ) throws(TokenRefusal) -> ReloadClaims {
        let trimmed = token.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else { throw TokenRefusal(.missing, "no token was given") }
        let bytes = Array(trimmed.utf8)
        let dots = bytes.indices.filter { bytes[$0] == UInt8(ascii: ".") }
        guard dots.count == 2 else {
            throw TokenRefusal(
                .malformed, "a JWS compact token has 3 dot-separated parts, this one has \(dots.count + 1)")
        }
        guard let headerBytes = Base64URL.decode(bytes[..<dots[0]]),
            let payloadBytes = Base64URL.decode(bytes[(dots[0] + 1)..<dots[1]]),
            let signature = Base64URL.decode(bytes[(dots[1] + 1)...])
        else { throw TokenRefusal(.malformed, "a part of the token is not canonical unpadded base64url") }
        // Two readers of one token must agree on it: a repeated key (which PyJWT reads last-wins and Foundation
        // first-wins) is refused outright, as is anything that is not JSON.
        for (part, name) in [(headerBytes, "header"), (payloadBytes, "claims")] {
            do {
                _ = try JSONValue.parse(part, maxDepth: 16, rejectDuplicateKeys: true)
            } catch {
                throw TokenRefusal(.malformed, "the \(name) is not valid JSON: \(error.message)")
            }
        }
        let header: ReloadTokenHeader
        do {
            header = try JSONValue.decode(ReloadTokenHeader.self, from: headerBytes)
        } catch {
            throw TokenRefusal(.malformed, "the header is not a JSON object with an `alg`")
        }
        if let crit = header.crit, !crit.isEmpty {
            throw TokenRefusal(.malformed, "the header marks extensions as critical (\(crit)); none are supported")
        }
        guard let key = lookUpKey(header.kid) else {
            let known = keyring.keys.keys.sorted().joined(separator: ", ")
            let named = header.kid.map { "key id '\($0)'" } ?? "no key id (kid)"
            throw TokenRefusal(
                .unknownKey, "the token names \(named); this gateway knows: \(known.isEmpty ? "none" : known)")
        }
        guard header.alg == key.algorithm.rawValue else {
            throw TokenRefusal(
                .algMismatch, "the header says alg '\(header.alg)' but key '\(key.kid)' is \(key.algorithm.rawValue)")
        }
        let signingInput = Array(bytes[..<dots[1]])
        let valid: Bool
        switch key.material {
        case .ed25519Public(let pub):
            valid = Crypto.ed25519Verify(publicKey: pub, signature: signature, message: signingInput)
        case .ed25519Private(_, let pub):
            valid = Crypto.ed25519Verify(publicKey: pub, signature: signature, message: signingInput)
        case .hmac(let secret):
            valid = Crypto.constantTimeEqual(Crypto.hmacSHA256(key: secret, message: signingInput), signature)
        }
        guard valid else { throw TokenRefusal(.badSignature, "the signature does not verify with key '\(key.kid)'") }
        guard let typ = header.typ, Self.isReloadType(typ) else {
            throw TokenRefusal(
                .wrongType,
                "the header's typ is \(header.typ.map { "'\($0)'" } ?? "missing"); it must be '\(reloadTokenType)'")
        }
        let claims: ReloadClaims
        do {
            claims = try JSONValue.decode(ReloadClaims.self, from: payloadBytes)
        } catch {
            throw TokenRefusal(.malformed, "the claims need aud, iat, exp, jti and op: \(Self.describe(error))")
        }
        try check(claims, expectation: expectation, now: now, consume: consume)
        return claims
    }

    /// Remembers that a token from `claims.iss` was applied: older tokens from that issuer are refused from now on.
    public func recordApplied(_ claims: ReloadClaims) {
        state.withLock { s in s.newestApplied[claims.iss] = max(s.newestApplied[claims.iss] ?? .min, claims.iat) }
    }

    private func check(_ claims: ReloadClaims, expectation: TokenExpectation, now: Int64, consume: Bool)
        throws(TokenRefusal)
    {
        guard !claims.jti.allSatisfy(\.isWhitespace) else {
            throw TokenRefusal(.malformed, "the jti claim is empty; every token needs a unique id")
        }
        guard claims.exp >= claims.iat else {
            throw TokenRefusal(.malformed, "exp (\(claims.exp)) is before iat (\(claims.iat))")
        }
        guard claims.aud.contains(audience) else {
            throw TokenRefusal(.wrongAudience, "the token is for \(claims.aud); this gateway is '\(audience)'")
        }
        if claims.iat > now + clockSkew {
            throw TokenRefusal(.notYetValid, "issued \(claims.iat - now) s in the future; check the clocks")
        }
        if let nbf = claims.nbf, nbf > now + clockSkew {
            throw TokenRefusal(.notYetValid, "not valid before \(nbf), \(nbf - now) s from now; check the clocks")
        }
        if now > claims.exp + clockSkew {
            throw TokenRefusal(.expired, "expired \(now - claims.exp) s ago; mint a fresh token")
        }
        if claims.exp - claims.iat > maxTTL {
            throw TokenRefusal(
                .ttlTooLong,
                "the token lives \(claims.exp - claims.iat) s; the most this gateway accepts is \(maxTTL) s")
        }
        guard claims.op == expectation.op else {
            throw TokenRefusal(.wrongOp, "the token allows '\(claims.op)', this call needs '\(expectation.op)'")
        }
        if let expected = expectation.server, claims.server != expected {
            throw TokenRefusal(
                .wrongOp, "the token is for server '\(claims.server ?? "none")', this call is for '\(expected)'")
        }
        if let expected = expectation.sha256 {
            guard let got = claims.sha256, got.lowercased() == expected.lowercased() else {
                throw TokenRefusal(
                    .hashMismatch,
                    "the token allows content \(claims.sha256 ?? "(none)"), the content to apply is \(expected)")
            }
        }
        try state.withLock { (s: inout ReplayState) throws(TokenRefusal) in
            if now - s.lastPrune > 60 {
                s.seen = s.seen.filter { $0.value + clockSkew >= now }
                s.lastPrune = now
            }
            if s.seen[claims.jti] != nil {
                throw TokenRefusal(.replayed, "token \(claims.jti) was already used; every call needs a fresh token")
            }
            if let newest = s.newestApplied[claims.iss], claims.iat < newest {
                throw TokenRefusal(
                    .replayed, "issuer '\(claims.iss)' already applied a newer token (iat \(newest) > \(claims.iat))")
            }
            if consume { s.seen[claims.jti] = claims.exp }
        }
    }

    private func lookUpKey(_ kid: String?) -> TokenKey? {
        if let kid { return keyring.keys[kid] }
        // A token minted without a kid (PyJWT's default) is fine when there is only one key it could mean.
        return keyring.keys.count == 1 ? keyring.keys.values.first : nil
    }

    /// `typ` is a media type: compared case-insensitively, with or without `application/` (RFC 7515 §4.1.9).
    static func isReloadType(_ typ: String) -> Bool {
        let t = typ.lowercased()
        return t == reloadTokenType || t == "application/" + reloadTokenType
    }

    private static func describe(_ error: any Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .keyNotFound(let key, _): return "missing claim '\(key.stringValue)'"
            case .typeMismatch(_, let c), .valueNotFound(_, let c):
                return "claim '\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
            case .dataCorrupted(let c):
                if let key = c.codingPath.last { return "claim '\(key.stringValue)': \(c.debugDescription)" }
                return "the claims are not a JSON object"
            @unknown default: return "\(e)"
            }
        }
        return "\(error)"
    }
}

/// Unpadded base64url (RFC 4648 §5), as JWS uses it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [
                alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
                alphabet[Int(n & 63)],
            ]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes canonical unpadded base64url, as JWS writes it (RFC 7515 §2, RFC 4648 §3.5): nil on padding,
    /// on a character outside the alphabet, on an impossible length, and on non-zero trailing bits, so every
    /// byte string has exactly one accepted encoding and a token cannot be re-spelled past a replay check.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(Array(text.utf8)[...])
    }

    /// Decodes canonical unpadded base64url bytes; see `decode(_:)`.
    public static func decode(_ chars: ArraySlice<UInt8>) -> [UInt8]? {
        guard chars.count % 4 != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = reverse[Int(c)]
            guard v >= 0 else { return nil }
            acc = (acc << 6 | UInt32(v)) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        // The bits left over (2 or 4) must be zero.
        guard acc & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks (a token read from a file or a header).
    func trimmingASCIIWhitespace() -> String {
        let bytes = utf8
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        guard let first = bytes.first, let last = bytes.last, isSpace(first) || isSpace(last) else { return self }
        let body = Array(bytes)
        guard let start = body.firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = body.lastIndex(where: { !isSpace($0) })!
        return String(decoding: body[start...end], as: UTF8.self)
    }
}
