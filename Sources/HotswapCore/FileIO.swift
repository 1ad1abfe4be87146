#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading and writing whole files with POSIX calls, so errors name the file and the errno.
public enum FileIO {
    /// A file that could not be read or written, with the reason an operator can act on.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var errno: Int32?
        /// The file was refused for its size, not for an I/O error.
        public var tooLarge = false
        public var description: String { "\(path): \(reason)" }

        public init(path: String, reason: String, errno: Int32?, tooLarge: Bool = false) {
            self.path = path
            self.reason = reason
            self.errno = errno
            self.tooLarge = tooLarge
        }
    }

    /// Reads a whole file. Refuses files larger than `limit` without reading them. With `regularOnly` (what a
    /// long-running process reads: the catalog, a token file) anything but a regular file is refused without
    /// waiting: opening a FIFO blocks until a writer comes, which would hang whoever reads it.
    public static func read(_ path: String, limit: Int = .max, regularOnly: Bool = false) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (regularOnly ? O_NONBLOCK : 0))
        guard fd >= 0 else { throw failure(path, "cannot open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failure(path, "cannot stat") }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw Failure(path: path, reason: "is a directory, not a file", errno: EISDIR)
        }
        if regularOnly && (st.st_mode & S_IFMT) != S_IFREG {
            throw Failure(
                path: path, reason: "is not a regular file (a FIFO, socket or device); point it at the file itself",
                errno: nil)
        }
        if regularOnly {
            // Regular files ignore O_NONBLOCK, but clear it so no later reader is surprised.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        }
        if Int(st.st_size) > limit {
            throw Failure(
                path: path, reason: "is \(st.st_size) bytes, over the limit of \(limit) bytes", errno: nil,
                tooLarge: true)
        }
        var out = [UInt8]()
        out.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, "cannot read")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit {
                throw Failure(
                    path: path, reason: "grew past the limit of \(limit) bytes while being read", errno: nil,
                    tooLarge: true)
            }
        }
        return out
    }

    /// Writes a file atomically: a temporary file in the same directory, fsync, then rename over the target.
    /// A reader sees the old content or the new, never half a file.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(Failure) {
        let tmp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(tmp, "cannot create") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let f = failure(tmp, "cannot write")
                close(fd)
                unlink(tmp)
                throw f
            }
            written += n
        }
        // The umask may have narrowed the mode; a key file must be exactly what was asked for.
        fchmod(fd, mode)
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else {
            let f = failure(path, "cannot rename into place")
            unlink(tmp)
            throw f
        }
    }

    /// Whether a path exists (following symlinks).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Whether a path is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without `.` and `..`.
    public static func list(_ path: String) throws(Failure) -> [String] {
        guard let dir = opendir(path) else { throw failure(path, "cannot list") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func failure(_ path: String, _ what: String) -> Failure {
        let code = errno
        let text = String(cString: strerror(code))
        return Failure(path: path, reason: "\(what): \(text)", errno: code)
    }
}
