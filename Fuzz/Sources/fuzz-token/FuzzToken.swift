// libFuzzer target: reload-token verification (JWS compact: base64url, JOSE header and claims JSON, HS256 and
// EdDSA signatures, audience, time window, single use, operation and content hash).
//
// An input is either
// - a token as sent (`header.claims.signature`), verified as it is: the seed corpus holds tokens minted by
//   ReloadTokenSigner with the keys below, valid at `now`, and near-valid ones; or
// - starting with `{`: a header JSON, a newline, and a claims JSON, which this target encodes and signs with the
//   key the header's `alg` names (EdDSA, else HS256) before verifying, so that mutations reach the claims'
//   decoding and checks past the signature.
//
// Properties, each a crash when broken: verifying never traps; a token accepted is one whose claims meet the
// expectation (audience, operation, server, hash, time window, TTL); and the same token is then refused as
// replayed.
//
// `FUZZ_TOKEN_WRITE_SEEDS=DIR fuzz-token -runs=0` writes the minted seed tokens to DIR (how Fuzz/corpus/fuzz-token
// was made).

import HotswapCore

#if canImport(Glibc)
    import Glibc
#endif

let now: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z: seeds are minted for this instant
let audience = "gw-fuzz"
let catalogSHA = hexString(Crypto.sha256(Array("version: 1\nservers: []\n".utf8)))
let hmacKey = TokenKey(kid: "ci", material: .hmac(secret: Array("hotswap-fuzz-hmac-secret-0123456789abcdef".utf8)))
let edKey: TokenKey = {
    let seed = (1...32).map { UInt8($0) }
    let pub = try! Crypto.ed25519PublicKey(seed: seed)
    return TokenKey(kid: "ops", material: .ed25519Private(seed: seed, publicKey: pub))
}()
let keyring = try! Keyring([hmacKey, edKey])
let expectations = [
    TokenExpectation(op: "reload", sha256: catalogSHA),
    TokenExpectation(op: "server.restart", server: "echo"),
]

@_cdecl("LLVMFuzzerInitialize")
public func fuzzTokenInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    if let dir = getenv("FUZZ_TOKEN_WRITE_SEEDS") { writeSeeds(to: String(cString: dir)) }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzToken(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let token: String
    if bytes.first == UInt8(ascii: "{") {
        let cut = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
        let header = Array(bytes[..<cut])
        let claims = cut < bytes.endIndex ? Array(bytes[(cut + 1)...]) : []
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        let message = Array(input.utf8)
        let signature: [UInt8]
        if header.contains(subsequence: Array("EdDSA".utf8)), case .ed25519Private(let seed, _) = edKey.material {
            signature = try! Crypto.ed25519Sign(seed: seed, message: message)
        } else if case .hmac(let secret) = hmacKey.material {
            signature = Crypto.hmacSHA256(key: secret, message: message)
        } else {
            fatalError("unreachable")
        }
        token = input + "." + Base64URL.encode(signature)
    } else {
        token = String(decoding: bytes, as: UTF8.self)
    }
    // A verifier per input: the replay memory of one input must not decide the next.
    let verifier = ReloadTokenVerifier(keyring: keyring, audience: audience)
    for expectation in expectations {
        let claims: ReloadClaims
        do {
            claims = try verifier.verify(token, expecting: expectation, now: now)
        } catch {
            if error.reason == .wrongOp { continue }
            return 0
        }
        check(claims, expectation, verifier)
        do {
            _ = try verifier.verify(token, expecting: expectation, now: now)
            fatalError("a token was accepted twice: \(claims)")
        } catch {
            guard error.reason == .replayed else { fatalError("a second use was refused as \(error), not replayed") }
        }
        return 0
    }
    return 0
}

func check(_ claims: ReloadClaims, _ expectation: TokenExpectation, _ verifier: ReloadTokenVerifier) {
    guard claims.aud.contains(audience) else { fatalError("accepted for another audience: \(claims)") }
    guard claims.op == expectation.op else { fatalError("accepted for another operation: \(claims)") }
    if let server = expectation.server, claims.server != server { fatalError("accepted for another server: \(claims)") }
    if let sha = expectation.sha256, claims.sha256?.lowercased() != sha {
        fatalError("accepted for other content: \(claims)")
    }
    guard claims.iat <= now + verifier.clockSkew, now <= claims.exp + verifier.clockSkew else {
        fatalError("accepted outside its time window: \(claims)")
    }
    guard claims.exp - claims.iat <= verifier.maxTTL else { fatalError("accepted with too long a TTL: \(claims)") }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

/// Valid tokens for `now`, minted by ReloadTokenSigner, and a few that fail one check each.
func writeSeeds(to dir: String) {
    let hmac = try! ReloadTokenSigner(key: hmacKey)
    let ed = try! ReloadTokenSigner(key: edKey)
    func claims(
        op: String = "reload", sha: String? = catalogSHA, server: String? = nil, aud: [String] = [audience],
        iat: Int64 = now - 5, exp: Int64 = now + 115, jti: String
    ) -> ReloadClaims {
        ReloadClaims(iss: "ci", aud: aud, iat: iat, exp: exp, jti: jti, op: op, sha256: sha, server: server)
    }
    let seeds: [(String, String)] = [
        ("valid-hs256-reload", try! hmac.sign(claims(jti: "00000000000000000000000000000001"))),
        ("valid-eddsa-reload", try! ed.sign(claims(jti: "00000000000000000000000000000002"))),
        ("valid-eddsa-restart", try! ed.sign(claims(op: "server.restart", sha: nil, server: "echo", jti: "03"))),
        ("valid-hs256-two-audiences", try! hmac.sign(claims(aud: ["other", audience], jti: "04"))),
        ("valid-hs256-upper-sha", try! hmac.sign(claims(sha: catalogSHA.uppercased(), jti: "05"))),
        ("expired-hs256", try! hmac.sign(claims(iat: now - 1000, exp: now - 900, jti: "06"))),
        ("future-eddsa", try! ed.sign(claims(iat: now + 600, exp: now + 700, jti: "07"))),
        ("ttl-too-long-hs256", try! hmac.sign(claims(exp: now + 3600, jti: "08"))),
        ("wrong-audience-eddsa", try! ed.sign(claims(aud: ["elsewhere"], jti: "09"))),
        ("wrong-sha-hs256", try! hmac.sign(claims(sha: String(repeating: "0", count: 64), jti: "0a"))),
        ("wrong-server-eddsa", try! ed.sign(claims(op: "server.restart", sha: nil, server: "clock", jti: "0b"))),
    ]
    for (name, token) in seeds {
        guard let f = fopen(dir + "/" + name, "w") else { fatalError("cannot write \(dir)/\(name)") }
        fputs(token, f)
        fclose(f)
    }
}
