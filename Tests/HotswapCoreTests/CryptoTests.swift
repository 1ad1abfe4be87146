import HotswapCore
import Testing

func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return out
}

@Suite("Known-answer tests")
struct CryptoTests {
    @Test("SHA-256 (FIPS 180-2 examples)")
    func sha256() {
        #expect(ContentHash.sha256([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            ContentHash.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            ContentHash.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("SHA-256 in chunks equals one shot")
    func sha256Chunks() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256Hasher()
        for start in stride(from: 0, to: data.count, by: 4097) {
            hasher.update(Array(data[start..<min(start + 4097, data.count)]))
        }
        #expect(hexString(hasher.finalize()) == ContentHash.sha256(data))
    }

    @Test("Ed25519, RFC 8032 section 7.1 test 1")
    func ed25519() throws {
        let seed = bytes(hex: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        let expectedPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        let expectedSignature =
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        let pub = try Crypto.ed25519PublicKey(seed: seed)
        #expect(hexString(pub) == expectedPublic)
        let signature = try Crypto.ed25519Sign(seed: seed, message: [UInt8]())
        #expect(hexString(signature) == expectedSignature)
        #expect(Crypto.ed25519Verify(publicKey: pub, signature: signature, message: [UInt8]()))
        #expect(!Crypto.ed25519Verify(publicKey: pub, signature: signature, message: [0]))
    }

    @Test("HMAC-SHA256, RFC 4231 test cases 1 and 2")
    func hmac() {
        #expect(
            hexString(Crypto.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            hexString(Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("PEM round trip: what we write, we (and openssl) read")
    func pem() throws {
        let seed = try Crypto.ed25519GenerateSeed()
        let privatePEM = try Crypto.writePEM(.ed25519Private(seed: seed))
        #expect(privatePEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try Crypto.readPEM(Array(privatePEM.utf8)) == .ed25519Private(seed: seed))
        let pub = try Crypto.ed25519PublicKey(seed: seed)
        let publicPEM = try Crypto.writePEM(.ed25519Public(pub))
        #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(try Crypto.readPEM(Array(publicPEM.utf8)) == .ed25519Public(pub))
    }

    @Test("base64url round trip and strictness")
    func base64url() {
        for n in 0..<70 {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + n) }
            let text = Base64URL.encode(data)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == data)
        }
        #expect(Base64URL.decode("a+b/") == nil)
        #expect(Base64URL.decode("abcde") == nil)
        #expect(Base64URL.decode("YQ") == [0x61])
        // Canonical only: no padding, no set spare bits.
        #expect(Base64URL.decode("YQ==") == nil)
        #expect(Base64URL.decode("YR") == nil)
        #expect(Base64URL.decode("YWI") == [0x61, 0x62])
        #expect(Base64URL.decode("YWJ") == nil)
    }
}
