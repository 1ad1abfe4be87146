import ArgumentParser
import HotswapCore

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a key pair (or an HMAC secret) for reload tokens.",
        discussion: """
            Ed25519 (default): writes NAME.key.pem (PKCS#8, mode 0600, for the signer: \
            the sidecar or an operator) and NAME.pub.pem (SPKI, for the gateway's \
            --verify-key), the same files as

              openssl genpkey -algorithm ed25519 -out NAME.key.pem
              openssl pkey -in NAME.key.pem -pubout -out NAME.pub.pem

            --hmac: writes NAME.secret (mode 0600): 48 random bytes as base64url text, \
            shared by both sides. The key id (kid) of these files is NAME.
            """)

    @Option(help: "Key name; also the key id (kid) that tokens carry.")
    var name: String

    @Option(help: "Directory to write into.")
    var out: String = "."

    @Flag(help: "Make a shared HMAC-SHA256 secret instead of an Ed25519 key pair.")
    var hmac = false

    @Flag(help: "Overwrite existing files.")
    var force = false

    func validate() throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw ValidationError("--name must be a plain file name (it becomes NAME.key.pem)")
        }
    }

    func run() throws {
        let base = out.hasSuffix("/") ? out + name : out + "/" + name
        let files = hmac ? [base + ".secret"] : [base + ".key.pem", base + ".pub.pem"]
        if !force, let existing = files.first(where: FileIO.exists) {
            Terminal.error(
                "\(existing) exists; refusing to overwrite a key\n  hint: pass --force, or pick another --name")
            throw ExitCode(1)
        }
        do {
            if hmac {
                let secret = Base64URL.encode(try Crypto.randomBytes(48)) + "\n"
                try FileIO.writeAtomically(files[0], Array(secret.utf8), mode: 0o600)
                print("wrote \(files[0]) (HS256 secret, kid \(name))")
            } else {
                let seed = try Crypto.ed25519GenerateSeed()
                let pub = try Crypto.ed25519PublicKey(seed: seed)
                try FileIO.writeAtomically(
                    files[0], Array(try Crypto.writePEM(.ed25519Private(seed: seed)).utf8), mode: 0o600)
                try FileIO.writeAtomically(files[1], Array(try Crypto.writePEM(.ed25519Public(pub)).utf8), mode: 0o644)
                print("wrote \(files[0]) (Ed25519 private key, kid \(name); for the signer)")
                print("wrote \(files[1]) (Ed25519 public key, kid \(name); for the gateway's --verify-key)")
            }
        } catch let error as FileIO.Failure {
            Terminal.error("\(error.description)\n  hint: check that \(out) exists and is writable")
            throw ExitCode(2)
        }
    }
}
