import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore
import HotswapWatch

/// `--signal socket`: pushes the exact validated bytes with a token to `POST /admin/reload`, and reads the result.
public struct SocketSignaler: Signaler {
    public let endpoint: ControlEndpoint
    public var name: String { "socket" }

    public init(endpoint: ControlEndpoint) { self.endpoint = endpoint }

    public func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome {
        let answer: ControlAPIClient.Answer<ReloadReport>
        do {
            answer = try await ControlAPIClient(endpoint: endpoint).reload(bytes, token: token)
        } catch let unexpected as ControlAPIClient.UnexpectedReply {
            return .transportError(unexpected.description)
        } catch {
            return .transportError("\(error)")
        }
        let report = answer.body
        switch answer.status {
        case 200:
            guard report.configSha256 == sha256 else {
                // A coalesced reload applied newer content than ours: not a confirmation of this hash.
                return .transportError("the gateway applied \(report.configSha256), not \(sha256)")
            }
            return .confirmed(generation: report.generation)
        case 401, 403, 409, 413, 422:
            return .rejected("\(report.summary) (HTTP \(answer.status))")
        default:
            return .transportError("HTTP \(answer.status): \(report.summary)")
        }
    }
}

/// `--signal sighup`: writes the token atomically to `--token-file`, then sends SIGHUP to the gateway found by
/// `--pid-file` or `--process-name` (a shared PID namespace: `shareProcessNamespace`, compose `pid: service:`).
public struct SignalSignaler: Signaler {
    public let pidFile: String?
    public let processName: String?
    public let tokenFile: String?
    public var name: String { "sighup" }

    public init(pidFile: String?, processName: String?, tokenFile: String?) {
        self.pidFile = pidFile
        self.processName = processName
        self.tokenFile = tokenFile
    }

    public func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome {
        if let tokenFile, let token {
            do {
                try FileIO.writeAtomically(tokenFile, Array(token.utf8), mode: 0o640)
            } catch {
                return .transportError("cannot write the token file: \(error.description)")
            }
        }
        guard let pid = findPID() else {
            return .transportError(
                pidFile != nil
                    ? "no running process in \(pidFile!)"
                    : "no process named '\(processName ?? "")' (is the PID namespace shared?)")
        }
        // SIGHUP's default action ends a process: a gateway still starting (before its handler is installed)
        // would be killed, not reloaded. Retried with backoff until it handles or ignores the signal.
        guard ProcessTable.handles(SIGHUP, pid: pid) else {
            return .transportError("process \(pid) does not handle SIGHUP yet (still starting?); not signalled")
        }
        guard kill(pid, SIGHUP) == 0 else {
            return .transportError("kill(\(pid), SIGHUP): \(String(cString: strerror(errno)))")
        }
        return .sent
    }

    public func findPID() -> pid_t? {
        if let pidFile {
            guard let bytes = try? FileIO.read(pidFile, limit: 64),
                let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                kill(pid, 0) == 0
            else { return nil }
            return pid
        }
        guard let processName else { return nil }
        return ProcessTable.find(named: processName)
    }
}

/// `--signal http`: POSTs to `--url` (with `--bearer-file`'s token, if any), for gateways that reload on a request.
public struct HTTPSignaler: Signaler {
    public let endpoint: ControlEndpoint
    public let path: String
    public let bearerFile: String?
    /// The gateway answers only once it has applied its file (mcp-hangar's `POST /api/config/reload`): a 2xx
    /// answer confirms (`--reply-confirms`). Otherwise a 2xx only says the request arrived.
    public let replyConfirms: Bool
    public var name: String { "http" }

    public init(url: String, bearerFile: String?, replyConfirms: Bool = false) throws {
        self.replyConfirms = replyConfirms
        guard let (endpoint, path) = ControlEndpoint.url(url) else {
            throw SidecarSetupError("--url '\(url)' is not http://HOST:PORT/PATH")
        }
        self.endpoint = endpoint
        self.path = path
        self.bearerFile = bearerFile
    }

    public func signal(bytes: [UInt8], sha256: String, token: String?) async -> SignalOutcome {
        var headers: [(String, String)] = []
        if let bearerFile {
            guard let secret = try? FileIO.read(bearerFile, limit: 64 * 1024) else {
                return .transportError("cannot read --bearer-file \(bearerFile)")
            }
            headers.append(
                (
                    "Authorization",
                    "Bearer \(String(decoding: secret, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))"
                ))
        }
        let (endpoint, path, sentHeaders) = (self.endpoint, self.path, headers)
        do {
            let reply = try await onOwnThread {
                try ControlClient.request(endpoint, method: "POST", path: path, headers: sentHeaders)
            }
            switch reply.status {
            case 200..<300: return replyConfirms ? .confirmed(generation: 0) : .sent
            // Busy (a rate limit, a timeout): worth retrying, unlike a refusal of the content.
            case 408, 425, 429: return .transportError("HTTP \(reply.status): \(reply.text.prefix(300))")
            case 400..<500: return .rejected("HTTP \(reply.status): \(reply.text.prefix(300))")
            default: return .transportError("HTTP \(reply.status)")
            }
        } catch {
            return .transportError("\(error)")
        }
    }
}

/// Finds processes by name in /proc (the sidecar sees the gateway there when the PID namespace is shared).
enum ProcessTable {
    /// Whether `pid` catches or ignores `signal` (its `SigCgt`/`SigIgn` masks in /proc), so that sending it
    /// cannot end the process by the default action. True when /proc does not say.
    static func handles(_ signal: Int32, pid: pid_t) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return true }
        let bit = UInt64(1) << UInt64(signal - 1)
        var known = false
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") || line.hasPrefix("SigIgn:") {
            known = true
            let hex = line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if let mask = UInt64(hex, radix: 16), mask & bit != 0 { return true }
        }
        return !known
    }

    static func find(named name: String) -> pid_t? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        let own = getpid()
        for entry in entries.compactMap(pid_t.init).sorted() where entry != own {
            guard let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8) else { continue }
            if comm.trimmingCharacters(in: .whitespacesAndNewlines) == name { return entry }
            // comm is cut at 15 characters; compare the command line's first word too.
            if let cmd = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                let first = cmd.split(separator: 0).first,
                String(decoding: first, as: UTF8.self).split(separator: "/").last.map(String.init) == name
            {
                return entry
            }
        }
        return nil
    }
}

/// A problem with the sidecar's own settings.
public struct SidecarSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
