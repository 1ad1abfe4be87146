import Foundation
import HotswapCore
import Testing

/// Builds tokens by hand, so a test can say exactly what the header and claims hold.
struct TokenCrafter {
    var seed: [UInt8]
    var secret: [UInt8]

    static func make() throws -> TokenCrafter {
        TokenCrafter(seed: try Crypto.ed25519GenerateSeed(), secret: Array("0123456789abcdef0123456789abcdef-hs".utf8))
    }

    var edKey: TokenKey {
        get throws {
            TokenKey(
                kid: "ed", material: .ed25519Private(seed: seed, publicKey: try Crypto.ed25519PublicKey(seed: seed)))
        }
    }

    var hmacKey: TokenKey { TokenKey(kid: "hs", material: .hmac(secret: secret)) }

    enum Signature {
        case ed25519([UInt8])
        case hmac([UInt8])
        case none
        case raw(String)
    }

    func token(header: [String: Any], claims: [String: Any], signature: Signature) throws -> String {
        try token(
            headerJSON: Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])),
            claimsJSON: Array(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])),
            signature: signature)
    }

    /// A token over header and claims text exactly as given (numbers no serializer writes, repeated keys).
    func token(headerJSON: [UInt8], claimsJSON: [UInt8], signature: Signature) throws -> String {
        let h = Base64URL.encode(headerJSON)
        let c = Base64URL.encode(claimsJSON)
        let input = Array("\(h).\(c)".utf8)
        switch signature {
        case .ed25519(let seed):
            return "\(h).\(c).\(Base64URL.encode(try Crypto.ed25519Sign(seed: seed, message: input)))"
        case .hmac(let key): return "\(h).\(c).\(Base64URL.encode(Crypto.hmacSHA256(key: key, message: input)))"
        case .none: return "\(h).\(c)."
        case .raw(let s): return "\(h).\(c).\(s)"
        }
    }

    /// Good claims for a reload of `sha` at `now`; override any of them.
    func claims(now: Int64, sha: String, _ overrides: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = [
            "iss": "test", "aud": "hotswap-gateway", "iat": now, "exp": now + 60,
            "jti": UUID().uuidString, "op": "reload", "sha256": sha,
        ]
        for (k, v) in overrides { c[k] = v }
        return c
    }

    func edHeader(_ overrides: [String: Any] = [:]) -> [String: Any] {
        var h: [String: Any] = ["alg": "EdDSA", "typ": "hotswap-reload+jwt", "kid": "ed"]
        for (k, v) in overrides { h[k] = v }
        return h
    }
}

@Suite("Reload tokens")
struct ReloadTokenTests {
    let crafter: TokenCrafter
    let verifier: ReloadTokenVerifier
    let now: Int64 = 1_800_000_000
    let sha = String(repeating: "ab", count: 32)

    init() throws {
        crafter = try TokenCrafter.make()
        verifier = ReloadTokenVerifier(
            keyring: try Keyring([try crafter.edKey, crafter.hmacKey]), audience: "hotswap-gateway")
    }

    private var expect: TokenExpectation { TokenExpectation(op: "reload", sha256: sha) }

    private func refusal(_ token: String, expecting: TokenExpectation? = nil, verifier v: ReloadTokenVerifier? = nil)
        -> TokenRefusal.Reason?
    {
        do {
            _ = try (v ?? verifier).verify(token, expecting: expecting ?? expect, now: now)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("a token minted by the signer verifies, with EdDSA and with HS256")
    func roundTrip() throws {
        for key in [try crafter.edKey, crafter.hmacKey] {
            let claims = try ReloadClaims.make(
                op: "reload", sha256: sha, audience: "hotswap-gateway", issuer: "sidecar", ttlSeconds: 60, now: now)
            let token = try ReloadTokenSigner(key: key).sign(claims)
            #expect(try verifier.verify(token, expecting: expect, now: now) == claims)
            #expect(claims.jti.count == 32, "128 random bits as hex")
        }
    }

    @Test("crafted tokens trigger every refusal reason")
    func everyReason() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        var cases: [(TokenRefusal.Reason, String)] = [
            (.missing, ""),
            (.malformed, "not-a-token"),
            (.malformed, "a.b"),
            (.malformed, "!!!.e30.sig"),
            (
                .malformed,
                try c.token(header: c.edHeader(["crit": ["b64"]]), claims: c.claims(now: now, sha: sha), signature: ed)
            ),
            (.malformed, try c.token(header: c.edHeader(), claims: ["aud": "hotswap-gateway"], signature: ed)),
            (
                .unknownKey,
                try c.token(header: c.edHeader(["kid": "other"]), claims: c.claims(now: now, sha: sha), signature: ed)
            ),
            (
                .algMismatch,
                try c.token(
                    header: c.edHeader(["alg": "HS256"]), claims: c.claims(now: now, sha: sha),
                    signature: .hmac(c.secret))
            ),
            (
                .algMismatch,
                try c.token(header: c.edHeader(["alg": "none"]), claims: c.claims(now: now, sha: sha), signature: .none)
            ),
            (
                .algMismatch,
                try c.token(header: c.edHeader(["alg": "ES256"]), claims: c.claims(now: now, sha: sha), signature: ed)
            ),
            (
                .badSignature,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha),
                    signature: .ed25519(try Crypto.ed25519GenerateSeed()))
            ),
            (
                .badSignature,
                try c.token(header: c.edHeader(), claims: c.claims(now: now, sha: sha), signature: .raw("AAAA"))
            ),
            (
                .badSignature,
                try c.token(
                    header: c.edHeader(["kid": "hs", "alg": "HS256"]), claims: c.claims(now: now, sha: sha),
                    signature: .hmac(Array("a-different-secret-of-32-bytes-or-more".utf8)))
            ),
            (
                .wrongType,
                try c.token(header: c.edHeader(["typ": "JWT"]), claims: c.claims(now: now, sha: sha), signature: ed)
            ),
            (
                .wrongAudience,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["aud": "other-gateway"]), signature: ed)
            ),
            (
                .expired,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now - 200, "exp": now - 100]),
                    signature: ed)
            ),
            (
                .notYetValid,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now + 120, "exp": now + 180]),
                    signature: ed)
            ),
            (
                .ttlTooLong,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["exp": now + 3600]), signature: ed)
            ),
            (
                .wrongOp,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["op": "server.stop"]), signature: ed)
            ),
            (
                .hashMismatch,
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: String(repeating: "cd", count: 32)),
                    signature: ed)
            ),
        ]
        // The header without typ at all is the wrong type too.
        var noTyp = c.edHeader()
        noTyp["typ"] = nil
        cases.append((.wrongType, try c.token(header: noTyp, claims: c.claims(now: now, sha: sha), signature: ed)))
        for (reason, token) in cases {
            #expect(refusal(token) == reason, "\(reason.rawValue): \(token)")
        }
        let replay = try c.token(header: c.edHeader(), claims: c.claims(now: now, sha: sha), signature: ed)
        #expect(refusal(replay) == nil)
        #expect(refusal(replay) == .replayed)
        #expect(Set(cases.map(\.0)).union([.replayed]) == Set(TokenRefusal.Reason.allCases))
    }

    /// Issue 8, item 9: policy gaps that let odd tokens through.
    @Test("future nbf, exp before iat, empty jti, re-spelled base64url and repeated keys are refused")
    func policyGaps() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        func make(_ overrides: [String: Any]) throws -> String {
            try c.token(header: c.edHeader(), claims: c.claims(now: now, sha: sha, overrides), signature: ed)
        }
        #expect(refusal(try make(["nbf": now + 3600])) == .notYetValid)
        #expect(refusal(try make(["nbf": now - 10])) == nil, "a past nbf is fine")
        #expect(refusal(try make(["iat": now, "exp": now - 1])) == .malformed)
        #expect(refusal(try make(["jti": ""])) == .malformed)
        #expect(refusal(try make(["jti": "  "])) == .malformed)

        // One token, spelled three ways: only the canonical spelling verifies.
        let good = try make([:])
        let parts = good.split(separator: ".").map(String.init)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var signature = Array(parts[2])
        // 64 bytes are 86 characters with 4 spare bits in the last: flipping one changes no decoded byte.
        let last = alphabet.firstIndex(of: signature.removeLast())!
        signature.append(alphabet[last ^ 1])
        #expect(refusal("\(parts[0]).\(parts[1]).\(String(signature))") == .malformed)
        #expect(refusal("\(parts[0]).\(parts[1]).\(parts[2])==") == .malformed)
        #expect(refusal("\(parts[0])=.\(parts[1]).\(parts[2])") == .malformed)
        #expect(refusal(good) == nil, "the canonical spelling verifies, once")

        // Repeated keys, which PyJWT reads last-wins: refused wherever they are.
        let header = Array(#"{"alg":"EdDSA","kid":"ed","typ":"hotswap-reload+jwt"}"#.utf8)
        let claims =
            #"{"aud":"hotswap-gateway","exp":\#(now + 60),"iat":\#(now),"iss":"t","jti":"dup","op":"server.stop","#
            + #""op":"reload","sha256":"\#(sha)"}"#
        #expect(
            refusal(try c.token(headerJSON: header, claimsJSON: Array(claims.utf8), signature: ed)) == .malformed)
        let twoKids = Array(#"{"alg":"EdDSA","kid":"ed","kid":"hs","typ":"hotswap-reload+jwt"}"#.utf8)
        let fine = Array(try JSONSerialization.data(withJSONObject: c.claims(now: now, sha: sha), options: []))
        #expect(refusal(try c.token(headerJSON: twoKids, claimsJSON: fine, signature: ed)) == .malformed)
    }

    /// Issue 8, item 3: an `exp` or `iat` beyond 64 bits trapped in `Int64(_:)`.
    @Test(
        "signed times that do not fit are malformed, never a trap",
        arguments: [
            #""exp":99999999999999999999"#, #""exp":1e300"#, #""exp":-1e300"#, #""iat":9223372036854775808"#,
            #""iat":-9223372036854775809"#, #""iat":1e19"#, #""exp":1e400"#, #""exp":9223372036854775807"#,
        ])
    func outOfRangeTimes(claim: String) throws {
        let key = String(claim.dropFirst().prefix { $0 != "\"" })
        var fields = [#""iss":"t""#, #""aud":"hotswap-gateway""#, #""jti":"j1""#, #""op":"reload""#, claim]
        fields.append(key == "exp" ? #""iat":\#(now)"# : #""exp":\#(now + 60)"#)
        fields.append(#""sha256":"\#(sha)""#)
        let claims = Array("{\(fields.joined(separator: ","))}".utf8)
        let token = try crafter.token(
            headerJSON: Array(#"{"alg":"EdDSA","kid":"ed","typ":"hotswap-reload+jwt"}"#.utf8), claimsJSON: claims,
            signature: .ed25519(crafter.seed))
        #expect(refusal(token) == .malformed, "\(claim)")
    }

    @Test("HS256 keyed with the Ed25519 public key (algorithm confusion) is refused")
    func algorithmConfusion() throws {
        let c = crafter
        let pub = try Crypto.ed25519PublicKey(seed: c.seed)
        let pem = Array(try Crypto.writePEM(.ed25519Public(pub)).utf8)
        for secret in [pub, pem] {
            let token = try c.token(
                header: c.edHeader(["alg": "HS256"]), claims: c.claims(now: now, sha: sha), signature: .hmac(secret))
            #expect(refusal(token) == .algMismatch)
        }
    }

    @Test("an issuer cannot go back in time after a token of it was applied")
    func newestApplied() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        let newer = try c.token(
            header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now - 5]), signature: ed)
        let claims = try verifier.verify(newer, expecting: expect, now: now)
        verifier.recordApplied(claims)
        let older = try c.token(
            header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now - 10]), signature: ed)
        #expect(refusal(older) == .replayed)
        let otherIssuer = try c.token(
            header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now - 10, "iss": "other"]), signature: ed
        )
        #expect(refusal(otherIssuer) == nil)
    }

    @Test("accepted variations: media-type typ, aud list, fractional times, no kid with a single key")
    func variations() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        #expect(
            refusal(
                try c.token(
                    header: c.edHeader(["typ": "application/Hotswap-Reload+JWT"]), claims: c.claims(now: now, sha: sha),
                    signature: ed)) == nil)
        #expect(
            refusal(
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["aud": ["x", "hotswap-gateway"]]),
                    signature: ed)) == nil)
        #expect(
            refusal(
                try c.token(
                    header: c.edHeader(),
                    claims: c.claims(now: now, sha: sha, ["iat": Double(now) + 0.5, "exp": Double(now) + 30.25]),
                    signature: ed)) == nil)
        #expect(
            refusal(try c.token(header: c.edHeader(), claims: c.claims(now: now, sha: sha.uppercased()), signature: ed))
                == nil)
        var noKid = c.edHeader()
        noKid["kid"] = nil
        let single = ReloadTokenVerifier(keyring: try Keyring([try c.edKey]), audience: "hotswap-gateway")
        #expect(
            refusal(try c.token(header: noKid, claims: c.claims(now: now, sha: sha), signature: ed), verifier: single)
                == nil)
        #expect(
            refusal(try c.token(header: noKid, claims: c.claims(now: now, sha: sha), signature: ed)) == .unknownKey,
            "two keys: which?")
    }

    @Test("clock skew: a little is tolerated, more is not")
    func skew() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        #expect(
            refusal(
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now + 30, "exp": now + 90]),
                    signature: ed)) == nil)
        #expect(
            refusal(
                try c.token(
                    header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["iat": now - 90, "exp": now - 30]),
                    signature: ed)) == nil)
    }

    @Test("server operations name their server")
    func serverOps() throws {
        let c = crafter
        let ed = TokenCrafter.Signature.ed25519(c.seed)
        let token = try c.token(
            header: c.edHeader(), claims: c.claims(now: now, sha: sha, ["op": "server.stop", "server": "time"]),
            signature: ed)
        #expect(refusal(token, expecting: TokenExpectation(op: "server.stop", server: "search")) == .wrongOp)
        #expect(refusal(token, expecting: TokenExpectation(op: "server.stop", server: "time")) == nil)
    }

    @Test("key rotation: two verify keys at once, and two different keys under one kid are refused")
    func rotation() throws {
        let old = try TokenKey.parse(
            Array(try Crypto.writePEM(.ed25519Private(seed: try Crypto.ed25519GenerateSeed())).utf8), kid: "2025")
        let new = try TokenKey.parse(
            Array(try Crypto.writePEM(.ed25519Private(seed: try Crypto.ed25519GenerateSeed())).utf8), kid: "2026")
        let v = ReloadTokenVerifier(keyring: try Keyring([old.verifyingKey, new.verifyingKey]), audience: "g")
        for key in [old, new] {
            let claims = try ReloadClaims.make(op: "reload", sha256: sha, audience: "g", issuer: "i", ttlSeconds: 60)
            #expect(try v.verify(try ReloadTokenSigner(key: key).sign(claims), expecting: expect) == claims)
        }
        let clash = TokenKey(kid: "2025", material: new.verifyingKey.material)
        #expect(throws: KeyLoadError.self) { try Keyring([old, clash]) }
    }

    @Test("key files: default kid from the name, secrets trimmed and at least 32 bytes, public keys cannot sign")
    func keyFiles() throws {
        #expect(TokenKey.defaultKid(forPath: "/keys/ops.key.pem") == "ops")
        #expect(TokenKey.defaultKid(forPath: "ops.pub.pem") == "ops")
        #expect(TokenKey.defaultKid(forPath: "/run/secrets/ci.secret") == "ci")
        let secret = try TokenKey.parse(Array("0123456789abcdef0123456789abcdef\n".utf8), kid: "s")
        #expect(secret.material == .hmac(secret: Array("0123456789abcdef0123456789abcdef".utf8)))
        #expect(throws: KeyLoadError.self) { try TokenKey.parse(Array("short\n".utf8), kid: "s") }
        let pub = try TokenKey.parse(
            Array(try Crypto.writePEM(.ed25519Public(try Crypto.ed25519PublicKey(seed: crafter.seed))).utf8), kid: "p")
        #expect(throws: KeyLoadError.self) { try ReloadTokenSigner(key: pub) }
        #expect(throws: KeyLoadError.self) {
            try TokenKey.parse(Array("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n".utf8), kid: "x")
        }
    }
}
