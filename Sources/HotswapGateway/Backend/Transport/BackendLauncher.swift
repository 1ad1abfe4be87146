import Foundation
import HotswapCore
import HotswapRuntime
import Logging
import NIOCore

/// What runs behind one backend's transport: a child process for local servers. A backend holds one link per
/// start and drops it when the link ends.
public protocol BackendLink: AnyObject, Sendable {
    var transport: any BackendTransport { get }
    /// The process id, for a link that is a local process.
    var pid: Int32? { get }
    /// Calls `body` once the link ends on its own (the process exited), with how it ended. Called at once when
    /// it has already ended.
    func onEnd(_ body: @escaping @Sendable (String) -> Void)
    /// Cleans up after an end on its own (whatever the process started in its group goes too).
    func reap()
    /// Ends the link (SIGTERM, then SIGKILL after `grace`, for a process); returns how it ended.
    func terminate(grace: Duration) async -> String
}

/// Starts what runs behind a backend and connects its transport to `events`. The seam between a backend's
/// lifecycle and the world: processes here, remote servers next, an in-memory server in tests.
public protocol BackendLauncher: Sendable {
    func launch(
        _ server: ServerDefinition, environment: [String: String], logger: Logger, events: TransportEvents
    ) async throws -> any BackendLink
}

/// Local servers (`runtime.type: local-process`): a child process in a group of its own, over stdio.
public struct ProcessLauncher: BackendLauncher {
    let group: any EventLoopGroup

    public init(group: any EventLoopGroup) { self.group = group }

    public func launch(
        _ server: ServerDefinition, environment base: [String: String], logger: Logger, events: TransportEvents
    ) async throws -> any BackendLink {
        guard case .localProcess(let local) = server.runtime else {
            throw BackendError(
                .startFailed, "server '\(server.id)': remote runtimes are not supported by this gateway build yet")
        }
        var environment = base
        for (k, v) in local.env { environment[k] = v }
        let child = try ChildProcess.spawn(
            command: Self.resolve(command: local.command, path: environment["PATH"]), arguments: local.args,
            environment: environment, workingDirectory: local.workingDir, displayName: local.asWritten.value.command)
        logger.info(
            "started", metadata: ["server.pid": "\(child.pid)", "server.command": "\(local.asWritten.value.command)"])
        do {
            let transport = try await StdioTransport.connect(
                to: child, serverID: server.id, group: group, logger: logger, events: events)
            return ProcessLink(child: child, transport: transport)
        } catch {
            await child.terminate(grace: .seconds(1))
            throw error
        }
    }

    /// A bare command name is looked up on PATH and then next to the running executable, so the
    /// `mcp-demo-server` built beside `hotswap` runs without installing either.
    static func resolve(command: String, path: String?) -> String {
        guard !command.contains("/") else { return command }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let sibling = own.appendingPathComponent(command).path
        return access(sibling, X_OK) == 0 ? sibling : command
    }
}

/// A child process and its stdio transport.
final class ProcessLink: BackendLink {
    let child: ChildProcess
    let transport: any BackendTransport

    init(child: ChildProcess, transport: any BackendTransport) {
        self.child = child
        self.transport = transport
    }

    var pid: Int32? { child.pid }

    func onEnd(_ body: @escaping @Sendable (String) -> Void) {
        child.onExit { status in body("the process \(ChildProcess.describe(status: status))") }
    }

    func reap() {
        // The leader is gone: whatever it started in its process group goes too, or each crash would leave one
        // more set of orphans behind.
        child.signalGroup(SIGKILL)
    }

    func terminate(grace: Duration) async -> String {
        transport.close()
        await child.terminate(grace: grace)
        return ChildProcess.describe(status: child.exitStatus ?? 0)
    }
}

/// Local processes and remote servers, each by its own launcher.
public struct RuntimeLauncher: BackendLauncher {
    let local: ProcessLauncher
    #if !HOTSWAP_NO_REMOTE
        let remote: RemoteLauncher
    #endif

    public init(group: any EventLoopGroup, caFiles: [String] = []) {
        local = ProcessLauncher(group: group)
        #if !HOTSWAP_NO_REMOTE
            remote = RemoteLauncher(group: group, caFiles: caFiles)
        #endif
    }

    public func launch(
        _ server: ServerDefinition, environment: [String: String], logger: Logger, events: TransportEvents
    ) async throws -> any BackendLink {
        switch server.runtime {
        case .localProcess:
            return try await local.launch(server, environment: environment, logger: logger, events: events)
        case .remote:
            #if HOTSWAP_NO_REMOTE
                throw BackendError(.startFailed, "server '\(server.id)': this build has no remote transport")
            #else
                return try await remote.launch(server, environment: environment, logger: logger, events: events)
            #endif
        }
    }
}
