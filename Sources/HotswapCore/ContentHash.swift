/// The SHA-256 a sidecar acts on and a reload token signs: of a file's bytes, or of a ConfigMap directory.
public enum ContentHash {
    /// Hex SHA-256 of bytes.
    public static func sha256(_ bytes: [UInt8]) -> String { hexString(Crypto.sha256(bytes)) }

    /// Hex SHA-256 of a file's bytes.
    public static func file(_ path: String) throws(FileIO.Failure) -> String {
        sha256(try FileIO.read(path))
    }

    /// The directory a ConfigMap mount really holds: `DIR/..data` when the kubelet's layout is there.
    ///
    /// The kubelet writes each version of a ConfigMap to `..2026_11_21_14_00_00.123456789`, points the
    /// `..data` symlink at it (by renaming `..data_tmp` over it) and links every key as `KEY -> ..data/KEY`.
    public static func resolveConfigMapDirectory(_ directory: String) -> String {
        let data = directory.hasSuffix("/") ? directory + "..data" : directory + "/..data"
        return FileIO.isDirectory(data) ? data : directory
    }

    /// A hash over every visible entry of a directory (a ConfigMap mount): sorted names, each name's length,
    /// name, content length and content. Dot-entries (`..data`, `..2026_…`, `.swp` files) are skipped, so the
    /// hash stays the same when the kubelet re-publishes identical content under a new timestamped directory.
    public static func directory(_ path: String) throws(FileIO.Failure) -> String {
        let root = resolveConfigMapDirectory(path)
        var hasher = SHA256Hasher()
        for name in try FileIO.list(root).filter({ !$0.hasPrefix(".") }).sorted() {
            let full = root + "/" + name
            guard !FileIO.isDirectory(full) else { continue }
            let content = try FileIO.read(full)
            let nameBytes = Array(name.utf8)
            hasher.update(lengthPrefix(nameBytes.count))
            hasher.update(nameBytes)
            hasher.update(lengthPrefix(content.count))
            hasher.update(content)
        }
        return hexString(hasher.finalize())
    }

    /// Resolves the catalog file inside a watched path: the path itself for a file, `DIR/..data/NAME` or
    /// `DIR/NAME` for a directory.
    public static func catalogPath(watching path: String, file name: String) -> String {
        guard FileIO.isDirectory(path) else { return path }
        return resolveConfigMapDirectory(path) + "/" + name
    }

    private static func lengthPrefix(_ n: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(n).bigEndian) { Array($0) }
    }
}
