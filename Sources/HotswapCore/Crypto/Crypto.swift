import COpenSSL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The cryptographic primitives hotswap needs, over OpenSSL's libcrypto.
///
/// This is the only file that imports COpenSSL: keys are kept as raw bytes, and every OpenSSL object
/// lives and dies inside one call, so no C pointer escapes and nothing needs `@unchecked Sendable`.
public enum Crypto {
    /// An error from libcrypto or from key material that is not what it claims to be.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ what: String) {
            var text = what
            let code = ERR_get_error()
            if code != 0 {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                text += " (\(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))"
            }
            ERR_clear_error()
            description = text
        }
    }

    // MARK: SHA-256 and HMAC

    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: some ContiguousBytes) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// HMAC-SHA256 (RFC 2104) of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], message: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 0
        message.withUnsafeBytes { msg in
            key.withUnsafeBytes { k in
                _ = HMAC(
                    EVP_sha256(), k.baseAddress, Int32(k.count), msg.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    msg.count, &out, &outLength)
            }
        }
        return out
    }

    /// Compares in time that depends only on the length, so a forged MAC learns nothing from timing.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) }
        }
            == 0
    }

    /// Bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&out, Int32(count)) == 1 else { throw Failure("RAND_bytes failed") }
        return out
    }

    // MARK: Ed25519

    /// A new Ed25519 private key: 32 raw seed bytes (RFC 8032).
    public static func ed25519GenerateSeed() throws(Failure) -> [UInt8] {
        try randomBytes(32)
    }

    /// The public key of an Ed25519 seed.
    public static func ed25519PublicKey(seed: [UInt8]) throws(Failure) -> [UInt8] {
        let key = try rawKey(seed, isPrivate: true)
        defer { EVP_PKEY_free(key) }
        return try rawPublic(key)
    }

    /// An Ed25519 signature (64 bytes) of `message`.
    public static func ed25519Sign(seed: [UInt8], message: some ContiguousBytes) throws(Failure) -> [UInt8] {
        let key = try rawKey(seed, isPrivate: true)
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { throw Failure("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { throw Failure("EVP_DigestSignInit failed") }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        let ok = message.withUnsafeBytes { msg in
            EVP_DigestSign(ctx, &signature, &length, msg.baseAddress?.assumingMemoryBound(to: UInt8.self), msg.count)
        }
        guard ok == 1, length == 64 else { throw Failure("Ed25519 signing failed") }
        return signature
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` under `publicKey`.
    public static func ed25519Verify(publicKey: [UInt8], signature: [UInt8], message: some ContiguousBytes) -> Bool {
        guard signature.count == 64, let key = try? rawKey(publicKey, isPrivate: false) else { return false }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
        let ok = message.withUnsafeBytes { msg in
            EVP_DigestVerify(
                ctx, signature, signature.count, msg.baseAddress?.assumingMemoryBound(to: UInt8.self), msg.count)
        }
        ERR_clear_error()
        return ok == 1
    }

    // MARK: PEM

    /// What a PEM file holds.
    public enum PEMKey: Sendable, Equatable {
        case ed25519Private(seed: [UInt8])
        case ed25519Public([UInt8])
    }

    /// Reads a PKCS#8 private key or SPKI public key (the files `openssl genpkey -algorithm ed25519` and
    /// `openssl pkey -pubout` write). Only Ed25519 is accepted.
    public static func readPEM(_ pem: [UInt8]) throws(Failure) -> PEMKey {
        let text = String(decoding: pem, as: UTF8.self)
        let isPrivate = text.contains("PRIVATE KEY-----")
        if text.contains("ENCRYPTED PRIVATE KEY") {
            throw Failure(
                "the private key is encrypted; write it without a passphrase (openssl genpkey without -aes256)")
        }
        let pkey: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return isPrivate ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let pkey else { throw Failure("not a PEM \(isPrivate ? "private" : "public") key") }
        defer { EVP_PKEY_free(pkey) }
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 else {
            throw Failure("the key is not Ed25519; make one with `openssl genpkey -algorithm ed25519`")
        }
        if isPrivate {
            var seed = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_private_key(pkey, &seed, &length) == 1, length == 32 else {
                throw Failure("could not read the Ed25519 private key")
            }
            return .ed25519Private(seed: seed)
        }
        return .ed25519Public(try rawPublic(pkey))
    }

    /// PEM text for an Ed25519 key: PKCS#8 for a private key, SPKI for a public key (what openssl writes).
    public static func writePEM(_ key: PEMKey) throws(Failure) -> String {
        let pkey: OpaquePointer
        switch key {
        case .ed25519Private(let seed): pkey = try rawKey(seed, isPrivate: true)
        case .ed25519Public(let raw): pkey = try rawKey(raw, isPrivate: false)
        }
        defer { EVP_PKEY_free(pkey) }
        guard let bio = BIO_new(BIO_s_mem()) else { throw Failure("BIO_new failed") }
        defer { BIO_free(bio) }
        let ok: Int32
        switch key {
        case .ed25519Private: ok = PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
        case .ed25519Public: ok = PEM_write_bio_PUBKEY(bio, pkey)
        }
        guard ok == 1 else { throw Failure("could not write PEM") }
        var out = [UInt8](repeating: 0, count: 1024)
        let n = BIO_read(bio, &out, Int32(out.count))
        guard n > 0 else { throw Failure("could not read PEM back") }
        return String(decoding: out.prefix(Int(n)), as: UTF8.self)
    }

    // MARK: Internals

    private static func rawKey(_ bytes: [UInt8], isPrivate: Bool) throws(Failure) -> OpaquePointer {
        guard bytes.count == 32 else { throw Failure("an Ed25519 key is 32 bytes, got \(bytes.count)") }
        let key =
            isPrivate
            ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, bytes, 32)
            : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, bytes, 32)
        guard let key else { throw Failure("could not load the Ed25519 key") }
        return key
    }

    private static func rawPublic(_ key: OpaquePointer) throws(Failure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == 32 else {
            throw Failure("could not read the Ed25519 public key")
        }
        return out
    }
}

/// Incremental SHA-256, for hashing files in chunks.
public struct SHA256Hasher: ~Copyable {
    private let ctx: OpaquePointer

    public init() {
        // EVP_MD_CTX_new only fails when malloc does; there is nothing sensible to do but stop.
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("out of memory creating a SHA-256 context") }
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        self.ctx = ctx
    }

    public mutating func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { raw in _ = EVP_DigestUpdate(ctx, raw.baseAddress, raw.count) }
    }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        _ = EVP_DigestUpdate(ctx, buffer.baseAddress, buffer.count)
    }

    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &length)
        return out
    }

    deinit { EVP_MD_CTX_free(ctx) }
}

/// Lowercase hex of bytes.
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}
