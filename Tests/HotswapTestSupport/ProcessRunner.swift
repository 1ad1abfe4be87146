import Foundation

/// What a finished process left behind.
public struct ProcessOutput: Sendable, CustomStringConvertible {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Where the things tests run live.
public enum TestPaths {
    /// The package root, found from this file's place in the tree.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A product built next to the test bundle (`swift build` puts every product in one directory).
    public static func product(_ name: String) -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The bundle is `.../debug/hotswapPackageTests.xctest`; on some layouts the binary is inside it.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    /// The Python with PyJWT and cryptography that `scripts/test` prepares (`HOTSWAP_PYTHON` overrides).
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["HOTSWAP_PYTHON"], !p.isEmpty { return p }
        return packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// The Python with the MCP SDK's 1.x line that `scripts/test` prepares (`HOTSWAP_PYTHON_MCP1` overrides).
    public static var pythonMCP1: String {
        if let p = ProcessInfo.processInfo.environment["HOTSWAP_PYTHON_MCP1"], !p.isEmpty { return p }
        return packageRoot.appendingPathComponent(".venv-mcp1/bin/python").path
    }
}

/// Runs a program to completion and captures its output. Output goes through files, not pipes, so a chatty
/// process can never block on a full pipe while the test waits for it.
public enum ProcessRunner {
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
        directory: String? = nil
    ) throws -> ProcessOutput {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        let err = scratch.appendingPathComponent("err")
        let input = scratch.appendingPathComponent("in")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        FileManager.default.createFile(atPath: input.path, contents: Data((stdin ?? "").utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        let inHandle = try FileHandle(forReadingFrom: input)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = inHandle
        try process.run()
        process.waitUntilExit()
        try? outHandle.close()
        try? errHandle.close()
        try? inHandle.close()
        return ProcessOutput(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Runs `hotswap` with the given arguments.
    public static func hotswap(
        _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil, directory: String? = nil
    ) throws -> ProcessOutput {
        try run(TestPaths.product("hotswap"), arguments, environment: environment, stdin: stdin, directory: directory)
    }

    /// Runs a program found on PATH (openssl, python).
    public static func tool(_ name: String, _ arguments: [String], stdin: String? = nil, directory: String? = nil)
        throws -> ProcessOutput
    {
        try run("/usr/bin/env", [name] + arguments, stdin: stdin, directory: directory)
    }
}
