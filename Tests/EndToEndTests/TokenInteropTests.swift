import Foundation
import HotswapCore
import HotswapTestSupport
import Testing

/// Tokens and keys exchanged with implementations nobody here wrote: the openssl CLI and PyJWT.
@Suite("Token interop: openssl and PyJWT")
struct TokenInteropTests {
    let dir: TemporaryDirectory
    let catalogPath: String
    let sha: String

    init() throws {
        dir = try TemporaryDirectory("hotswap-interop")
        let text = "version: 1\nservers: []\n"
        catalogPath = try dir.write("catalog.yaml", text)
        sha = ContentHash.sha256(Array(text.utf8))
        let gen = try ProcessRunner.tool(
            "openssl", ["genpkey", "-algorithm", "ed25519", "-out", dir.file("ops.key.pem")])
        guard gen.status == 0 else { throw InteropFailure("openssl genpkey: \(gen)") }
        let pub = try ProcessRunner.tool(
            "openssl", ["pkey", "-in", dir.file("ops.key.pem"), "-pubout", "-out", dir.file("ops.pub.pem")])
        guard pub.status == 0 else { throw InteropFailure("openssl pkey: \(pub)") }
        try dir.write("ci.secret", "an-hmac-secret-of-at-least-32-bytes-0123456789\n")
    }

    struct InteropFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    private func python(_ args: [String]) throws -> ProcessOutput {
        let python = TestPaths.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw InteropFailure("\(python) is missing: run scripts/test, which creates .venv with PyJWT")
        }
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/interop/pyjwt_tool.py").path
        return try ProcessRunner.run(python, [script] + args)
    }

    @Test("keys made by the openssl CLI load, with kid from the file name")
    func opensslKeys() throws {
        defer { dir.remove() }
        let priv = try TokenKey.load(path: dir.file("ops.key.pem"))
        let pub = try TokenKey.load(path: dir.file("ops.pub.pem"))
        #expect(priv.kid == "ops" && pub.kid == "ops")
        #expect(priv.verifyingKey == pub)
    }

    @Test("a token from `hotswap token` verifies with `hotswap token verify` and with openssl itself")
    func opensslSignature() throws {
        defer { dir.remove() }
        let mint = try ProcessRunner.hotswap(["token", "--key", dir.file("ops.key.pem"), "--config", catalogPath])
        #expect(mint.status == 0, "\(mint)")
        let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let ok = try ProcessRunner.hotswap([
            "token", "verify", "--key", dir.file("ops.pub.pem"), "--config", catalogPath, token,
        ])
        #expect(ok.status == 0, "\(ok)")
        #expect(ok.stdout.contains(sha))
        // openssl verifies the raw Ed25519 signature over the JWS signing input.
        let parts = token.split(separator: ".").map(String.init)
        try dir.write("input", parts[0] + "." + parts[1])
        try Data(Base64URL.decode(parts[2])!).write(to: URL(fileURLWithPath: dir.file("sig")))
        let v = try ProcessRunner.tool(
            "openssl",
            [
                "pkeyutl", "-verify", "-pubin", "-inkey", dir.file("ops.pub.pem"), "-rawin", "-in", dir.file("input"),
                "-sigfile", dir.file("sig"),
            ])
        #expect(v.status == 0, "\(v)")
        #expect(v.stdout.contains("Signature Verified Successfully"))
    }

    @Test("a token minted by PyJWT verifies (EdDSA and HS256), even without a kid")
    func pyjwtMints() throws {
        defer { dir.remove() }
        for (key, alg, verifyKey) in [("ops.key.pem", "EdDSA", "ops.pub.pem"), ("ci.secret", "HS256", "ci.secret")] {
            for kid in ["ops", "ci", nil] as [String?] where kid == nil || (kid == "ops") == (alg == "EdDSA") {
                var args = ["mint", "--key", dir.file(key), "--alg", alg, "--sha256", sha]
                if let kid { args += ["--kid", kid] }
                let mint = try python(args)
                #expect(mint.status == 0, "\(mint)")
                let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let r = try ProcessRunner.hotswap([
                    "token", "verify", "--key", dir.file(verifyKey), "--config", catalogPath, token,
                ])
                #expect(r.status == 0, "\(alg) kid \(kid ?? "none"): \(r)")
            }
        }
    }

    @Test("a token printed by `hotswap token` verifies with PyJWT (EdDSA and HS256)")
    func pyjwtVerifies() throws {
        defer { dir.remove() }
        for (key, alg) in [("ops", "EdDSA"), ("ci", "HS256")] {
            let keyFile = alg == "EdDSA" ? "\(key).key.pem" : "\(key).secret"
            let verifyFile = alg == "EdDSA" ? "\(key).pub.pem" : "\(key).secret"
            let mint = try ProcessRunner.hotswap(
                ["token", "--key", dir.file(keyFile), "--sha256", sha, "--aud", "edge-1", "--iss", "ci-job"])
            #expect(mint.status == 0, "\(mint)")
            let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let r = try python([
                "verify", "--key", dir.file(verifyFile), "--alg", alg, "--aud", "edge-1", "--token", token,
            ])
            #expect(r.status == 0, "\(r)")
            let decoded = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let header = try #require(decoded["header"] as? [String: Any])
            let claims = try #require(decoded["claims"] as? [String: Any])
            #expect(header["alg"] as? String == alg)
            #expect(header["typ"] as? String == "hotswap-reload+jwt")
            #expect(header["kid"] as? String == key)
            #expect(claims["sha256"] as? String == sha)
            #expect(claims["iss"] as? String == "ci-job")
            #expect(claims["op"] as? String == "reload")
            #expect((claims["jti"] as? String)?.count == 32)
        }
    }

    @Test("tokens crafted with PyJWT are refused with each reason")
    func craftedRefusals() throws {
        defer { dir.remove() }
        let r = try python([
            "crafted", "--key", dir.file("ops.key.pem"), "--pub", dir.file("ops.pub.pem"), "--sha256", sha, "--kid",
            "ops",
        ])
        #expect(r.status == 0, "\(r)")
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: String]])
        #expect(cases.count >= 12)
        for c in cases {
            let (reason, token) = (c["reason"]!, c["token"]!)
            let v = try ProcessRunner.hotswap(
                [
                    "token", "verify", "--format", "json", "--key", dir.file("ops.pub.pem"), "--config", catalogPath,
                    token,
                ])
            #expect(v.status == 1, "\(reason): \(v)")
            let verdict = try JSONSerialization.jsonObject(with: Data(v.stdout.utf8)) as? [String: Any]
            #expect(verdict?["reason"] as? String == reason, "\(reason): \(v)")
        }
    }
}
