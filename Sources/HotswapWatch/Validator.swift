import Foundation
import HotswapCore
import HotswapRuntime
import Synchronization

/// How the sidecar checks content before it signals anything.
public enum ValidationMode: Sendable {
    /// The catalog schema, in a dialect. `${VAR}` is checked for syntax only: the sidecar's environment is
    /// not the gateway's, which expands (and reports unset variables) when it applies.
    case catalog(CatalogDialect)
    /// YAML (or JSON) syntax only, for gateways whose config is not a hotswap catalog.
    case yamlSyntax
    /// No check here: the receiver validates (the gateway's own watcher hands content to its registry, whose
    /// report says what was wrong).
    case deferred
    case jsonSyntax
    /// An external command: argv without a shell, `{}` replaced by the path of a private copy.
    case command([String], timeout: Duration)
}

/// The verdict on one content.
public enum Verdict: Sendable, Equatable {
    case valid
    /// Each line names its place (`catalog.yaml:12:7: error: ...`).
    case invalid([String])
}

/// Validates catalog bytes as `ValidationMode` says.
public struct Validator: Sendable {
    public let mode: ValidationMode
    /// The name errors carry (the watched file's).
    public let fileName: String

    public init(mode: ValidationMode, fileName: String) {
        self.mode = mode
        self.fileName = fileName
    }

    public func validate(_ bytes: [UInt8]) async -> Verdict {
        switch mode {
        case .catalog(let dialect):
            let result = CatalogLoader.load(
                bytes, options: CatalogLoadOptions(dialect: dialect, environment: .syntaxOnly))
            return result.isValid ? .valid : .invalid(result.errors.map { $0.formatted(file: fileName) })
        case .deferred:
            return .valid
        case .yamlSyntax:
            do {
                guard try YAMLDocument.parse(bytes) != nil else {
                    return .invalid(["\(fileName):1:1: error: the file is empty"])
                }
                return .valid
            } catch {
                return .invalid(["\(fileName):\(error.mark.line):\(error.mark.column): error: \(error.message)"])
            }
        case .jsonSyntax:
            do {
                _ = try JSONValue.parse(bytes, maxDepth: 256)
                return .valid
            } catch {
                let (line, column) = Self.position(of: error.offset, in: bytes)
                return .invalid(["\(fileName):\(line):\(column): error: \(error.message)"])
            }
        case .command(let argv, let timeout):
            return await runCommand(argv, timeout: timeout, bytes: bytes)
        }
    }

    static func position(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var column = 1
        for b in bytes.prefix(offset) {
            if b == 0x0A {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }

    private func runCommand(_ argv: [String], timeout: Duration, bytes: [UInt8]) async -> Verdict {
        switch await CheckCommand(argv: argv, timeout: timeout, fileName: fileName).run(on: bytes) {
        case .passed: return .valid
        case .failed(let lines):
            return .invalid(["\(fileName):1:1: error: validator: \(lines.first ?? "failed")"] + lines.dropFirst())
        }
    }
}

/// A command run on a private copy of content (`--validate-command`, `--confirm-command`): argv without a shell,
/// `{}` replaced by the copy's path; it passes when it exits 0 within its time limit.
public struct CheckCommand: Sendable {
    public let argv: [String]
    public let timeout: Duration
    /// The copy's file name (the watched file's), so a tool that goes by the extension sees the same one.
    public let fileName: String

    public init(argv: [String], timeout: Duration, fileName: String) {
        self.argv = argv
        self.timeout = timeout
        self.fileName = fileName
    }

    public enum Outcome: Sendable, Equatable {
        case passed
        /// The first line says why (exit status, timeout, cannot run); then the command's own output.
        case failed([String])
    }

    /// Writes a private copy (mode 0600, in a fresh directory), runs the command on it, and reads its exit status.
    public func run(on bytes: [UInt8]) async -> Outcome {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotswap-check-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(
                at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            return .failed(["cannot make a private copy of the content: \(error)"])
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent(fileName.split(separator: "/").last.map(String.init) ?? "catalog").path
        do {
            try FileIO.writeAtomically(copy, bytes, mode: 0o600)
        } catch {
            return .failed([error.description])
        }
        let arguments = argv.map { $0.replacingOccurrences(of: "{}", with: copy) }
        guard let program = arguments.first else { return .failed(["the command is empty"]) }
        // Spawned like a gateway's server: its own process group, exactly fds 0-2 (none of the sidecar's
        // sockets or files), killed with its children when it overruns.
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                command: program, arguments: Array(arguments.dropFirst()),
                environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        } catch {
            return .failed(["cannot run \(program): \(error)"])
        }
        close(child.stdin)
        let output = OutputCollector(fds: [child.stdout, child.stderr], limit: 64 * 1024)
        guard await child.waitForExit(timeout: timeout) else {
            await child.terminate(grace: .seconds(1))
            _ = await output.text()
            return .failed(["\(arguments.joined(separator: " ")) timed out after \(timeout)"])
        }
        let status = child.exitStatus ?? 0
        let text = await output.text()
        guard status == 0 else {
            let lines = text.split(separator: "\n").map(String.init).prefix(50)
            return .failed(["\(program) \(ChildProcess.describe(status: status))"] + lines)
        }
        return .passed
    }
}

/// Reads a child's output pipes on threads of their own (a validator that writes more than a pipe holds must not
/// block), keeping the first `limit` bytes of each. A pipe is read until its end or until `stop()`: a validator's
/// background child that keeps the pipe open (or escaped its process group) cannot hold the sidecar.
final class OutputCollector: Sendable {
    private let collected = Mutex<[Int: [UInt8]]>([:])
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchGroup()

    init(fds: [Int32], limit: Int) {
        for (index, fd) in fds.enumerated() {
            done.enter()
            let thread = Thread { [self] in
                var kept: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 8192)
                while !stopped.load(ordering: .relaxed) {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&p, 1, 100)
                    if ready < 0 && errno != EINTR { break }
                    if ready <= 0 { continue }
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    if kept.count < limit { kept += buffer[0..<min(n, limit - kept.count)] }
                }
                close(fd)
                collected.withLock { $0[index] = kept }
                done.leave()
            }
            thread.start()
        }
    }

    /// What was read, once every pipe has ended or `grace` has passed (then the readers stop).
    func text(grace: Duration = .seconds(1)) async -> String {
        _ = await waitForEvent(within: grace) { ended in done.notify(queue: .global(), execute: ended) }
        stopped.store(true, ordering: .relaxed)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            done.notify(queue: .global()) { c.resume() }
        }
        let parts = collected.withLock { c in c.keys.sorted().map { c[$0] ?? [] } }
        return parts.map { String(decoding: $0, as: UTF8.self) }.joined()
    }
}
