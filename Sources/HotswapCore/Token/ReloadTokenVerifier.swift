import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

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
