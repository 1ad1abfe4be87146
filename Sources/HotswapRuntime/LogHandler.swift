import Foundation
import HotswapCore
import Logging
import Synchronization

/// Log lines on stderr, as text (`2026-11-21T14:00:00Z info hotswap: reload applied reload.generation=3 ...`)
/// or as one JSON object per line (`--log-format json`), for log collectors.
public struct HotswapLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let format: Format

    public init(label: String, format: Format, level: Logger.Level = .info) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    /// Installs this handler for every logger of the process.
    public static func bootstrap(format: Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in HotswapLogHandler(label: label, format: format, level: level) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)) + "Z"
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level) \(label): \(event.message)"
            for key in all.keys.sorted() { line += " \(key)=\(Self.quoteIfNeeded("\(all[key]!)"))" }
        case .json:
            var object: [String: JSONValue] = [
                "time": .string(time), "level": .string(event.level.rawValue), "logger": .string(label),
                "message": .string("\(event.message)"),
            ]
            for (key, value) in all { object[key] = .string("\(value)") }
            line = JSONValue.object(object).text
        }
        StandardError.write(line + "\n")
    }

    private static func quoteIfNeeded(_ s: String) -> String {
        s.contains(" ") || s.isEmpty ? "\"\(s)\"" : s
    }
}

/// Whole writes to a file descriptor, never interleaved with another thread's: log lines on stderr, and
/// protocol lines on stdout (`hotswap connect`).
public final class WholeWrites: Sendable {
    public static let standardOutput = WholeWrites(1)
    public static let standardError = WholeWrites(2)

    private let fd: Int32
    private let lock = Mutex(())

    init(_ fd: Int32) { self.fd = fd }

    /// Writes all of `bytes` (retrying short writes and EINTR); gives up when the descriptor is closed.
    public func write(_ bytes: [UInt8]) {
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
        }
    }
}

/// Whole lines to stderr, never interleaved with another thread's line.
enum StandardError {
    static func write(_ text: String) { WholeWrites.standardError.write(Array(text.utf8)) }
}
