import Foundation
import HotswapCore

/// How the sidecar checks content before it signals anything.
public enum ValidationMode: Sendable {
    /// The catalog schema, in a dialect. `${VAR}` is checked for syntax only: the sidecar's environment is
    /// not the gateway's, which expands (and reports unset variables) when it applies.
    case catalog(CatalogDialect)
    /// YAML (or JSON) syntax only, for gateways whose config is not a hotswap catalog.
    case yamlSyntax
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

    /// Writes a private copy (mode 0600, in a fresh directory), runs the command on it, and reads its exit status.
    private func runCommand(_ argv: [String], timeout: Duration, bytes: [UInt8]) async -> Verdict {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotswap-validate-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(
                at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            return .invalid(["\(fileName):1:1: error: cannot make a private copy to validate: \(error)"])
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent(fileName.split(separator: "/").last.map(String.init) ?? "catalog").path
        do {
            try FileIO.writeAtomically(copy, bytes, mode: 0o600)
        } catch {
            return .invalid(["\(fileName):1:1: error: \(error.description)"])
        }
        let arguments = argv.map { $0.replacingOccurrences(of: "{}", with: copy) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = dir.appendingPathComponent("output")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        guard let handle = try? FileHandle(forWritingTo: output) else {
            return .invalid(["\(fileName):1:1: error: cannot capture the validator's output"])
        }
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            return .invalid(["\(fileName):1:1: error: cannot run validator \(arguments.first ?? ""): \(error)"])
        }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            try? handle.close()
            return .invalid([
                "\(fileName):1:1: error: validator \(arguments.joined(separator: " ")) timed out after \(timeout)"
            ])
        }
        try? handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let lines = text.split(separator: "\n").map(String.init).prefix(50)
            return .invalid(
                ["\(fileName):1:1: error: validator exited with status \(process.terminationStatus)"] + lines)
        }
        return .valid
    }
}
