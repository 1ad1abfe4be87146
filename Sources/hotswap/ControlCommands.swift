import ArgumentParser
import Foundation
import HotswapAPI
import HotswapClient
import HotswapCore

/// Where the gateway is, shared by the commands that talk to it.
struct ControlOptions: ParsableArguments {
    @Option(
        help:
            "The gateway's control socket. Env HOTSWAP_SOCKET. [default: $XDG_RUNTIME_DIR/hotswap/control.sock, /run/hotswap/control.sock for root, $HOME/.hotswap/control.sock, else /tmp/hotswap-UID/control.sock]. Nothing is sent unless the listener runs as you or root; HOTSWAP_SOCKET_UID=N trusts another uid."
    )
    var socket: String?

    @Option(help: "The gateway's TCP address instead, e.g. http://127.0.0.1:4444. Env HOTSWAP_URL.")
    var url: String?

    @Option(help: "Output: text or json (the gateway's answer as it is).")
    var format: OutputFormat = .text

    @Option(help: "How long to wait for the answer, in seconds.")
    var timeout: Int = 120

    func endpoint() throws -> ControlEndpoint {
        if let url = url ?? (socket == nil ? Terminal.env("HOTSWAP_URL") : nil) {
            guard let e = ControlEndpoint(url) else { throw ValidationError("--url '\(url)' is not http://HOST:PORT") }
            return e
        }
        return .unix(path: socket ?? Terminal.env("HOTSWAP_SOCKET") ?? ControlEndpoint.defaultSocketPath)
    }

    /// Sends a request; an unreachable gateway is exit status 2 with the reason.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws
        -> HTTPReply
    {
        do {
            return try ControlClient.request(
                try endpoint(), method: method, path: path, headers: headers, body: body, timeoutSeconds: timeout)
        } catch let error as ControlClientError {
            Terminal.error("cannot reach the gateway: \(error.description)")
            throw ExitCode(2)
        }
    }

    func json(_ reply: HTTPReply) -> JSONValue {
        (try? JSONValue.parse(reply.body)) ?? .object(["raw": .string(reply.text)])
    }

    /// The reply as the route's wire type; a body that is not one is exit status 1 with what came instead.
    func decode<T: Decodable>(_ type: T.Type, _ reply: HTTPReply) throws -> T {
        do {
            return try ControlAPIClient.decode(type, reply)
        } catch {
            Terminal.error("unexpected answer from the gateway: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Token flags for the mutating commands.
struct SigningOptions: ParsableArguments {
    @Option(
        help:
            "Signing key for a reload token (NAME.key.pem or NAME.secret); needed when the gateway has verify keys. Env HOTSWAP_SIGNING_KEY."
    )
    var key: String?

    @Option(help: "Key id; defaults to NAME of the key file. Env HOTSWAP_KEY_ID.")
    var kid: String?

    @Option(help: "The gateway's --audience. Env HOTSWAP_AUDIENCE. [default: hotswap-gateway]")
    var aud: String?

    @Option(help: "Issuer written in the token. Env HOTSWAP_ISSUER. [default: hotswap-cli]")
    var iss: String?

    /// An Authorization header when a key is given.
    func authorization(op: String, sha256: String?, server: String? = nil) throws -> [(String, String)] {
        guard let path = key ?? Terminal.env("HOTSWAP_SIGNING_KEY") else { return [] }
        let token = try Terminal.mintToken(
            keyPath: path, kid: kid, op: op, sha256: sha256,
            audience: aud ?? Terminal.env("HOTSWAP_AUDIENCE") ?? "hotswap-gateway",
            issuer: iss ?? Terminal.env("HOTSWAP_ISSUER") ?? "hotswap-cli", ttlSeconds: 60, server: server)
        return [("Authorization", "Bearer \(token)")]
    }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask a running gateway to apply a catalog, and show what changed.",
        discussion: """
            With --config, sends that file's bytes; without, the gateway re-reads its own --config. \
            With --key, signs a reload token for exactly those bytes (so --key needs --config).

            Exit status: 0 applied or unchanged, 1 rejected, rolled back or refused, 2 unreachable.
            """)

    @OptionGroup var control: ControlOptions
    @OptionGroup var signing: SigningOptions

    @Option(help: "Catalog file to send; omit to have the gateway re-read its own --config.")
    var config: String?

    @Flag(help: "Validate and diff against the live catalog without applying.")
    var dryRun = false

    func run() throws {
        var body: [UInt8] = []
        if let config {
            do { body = try FileIO.read(config) } catch {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
        } else if signing.key != nil || Terminal.env("HOTSWAP_SIGNING_KEY") != nil {
            throw ValidationError("--key signs the catalog's sha256, so it needs --config FILE")
        }
        let headers = try signing.authorization(op: "reload", sha256: config == nil ? nil : ContentHash.sha256(body))
        let reply = try control.send(
            "POST", "/admin/reload" + (dryRun ? "?dry_run=1" : ""), headers: headers, body: body)
        if control.format == .json {
            print(control.json(reply).pretty)
            if reply.status != 200 { throw ExitCode(1) }
            return
        }
        let report = try control.decode(ReloadReport.self, reply)
        Self.printReport(report, status: reply.status, file: config ?? "catalog")
        if !report.isLive && report.result != .dryRun { throw ExitCode(1) }
    }

    static func printReport(_ r: ReloadReport, status: Int, file: String) {
        let ms = String(format: "%.1f ms", r.durationMs)
        switch r.result {
        case .refused:
            Terminal.error("refused (\(status)): \(r.reason ?? ""): \(r.message ?? "")")
            return
        case .rejected:
            for e in r.errors ?? [] {
                var line = "\(file):\(e.line):\(e.column): error: "
                if !e.path.isEmpty { line += "\(e.path): " }
                line += e.message
                if let hint = e.hint { line += "\n  hint: \(hint)" }
                Terminal.error(line)
            }
            if let message = r.message {
                Terminal.error("rejected: \(message)")
            } else {
                Terminal.error("rejected: the catalog is invalid; generation \(r.generation) keeps serving")
            }
            return
        case .rolledBack:
            Terminal.error("rolled back: server '\(r.server ?? "?")' failed to start: \(r.error ?? "")")
            Terminal.error("generation \(r.generation) keeps serving")
            return
        case .applied, .unchanged, .dryRun:
            break
        }
        print("\(r.result.rawValue): generation \(r.generation), sha256 \(r.configSha256), \(ms)")
        let fields = r.changedFields ?? [:]
        func list(_ ids: [String], modified: Bool = false) -> String {
            if ids.isEmpty { return "-" }
            if modified {
                return ids.map { id in
                    let f = fields[id] ?? []
                    return f.isEmpty ? id : "\(id) (\(f.joined(separator: ", ")))"
                }.joined(separator: ", ")
            }
            return ids.joined(separator: ", ")
        }
        print("  \("added:".padding(11))\(list(r.added))")
        print("  \("removed:".padding(11))\(list(r.removed))")
        print("  \("modified:".padding(11))\(list(r.modified, modified: true))")
        print("  \("unchanged:".padding(11))\(list(r.unchanged))")
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the gateway's live generation, hash and last reload.")

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send("GET", "/stats")
        let s = control.json(reply)
        if control.format == .json {
            print(s.pretty)
            return
        }
        let stats = try control.decode(StatsReport.self, reply)
        print("generation:  \(stats.generation)")
        print("sha256:      \(stats.configSha256 ?? "-")")
        print("ready:       \(stats.ready ? "yes" : "no")")
        print("servers:     \(stats.servers)")
        if let last = stats.lastReload {
            print(
                "last reload: \(last.result.rawValue) from \(last.source.rawValue), \(String(format: "%.1f ms", last.durationMs))"
            )
        }
        let counts = stats.reloads.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("reloads:     \(counts.isEmpty ? "-" : counts.joined(separator: ", "))")
    }
}

struct ServersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servers", abstract: "List the live servers: state, pid, calls in flight, restarts, tools.")

    @OptionGroup var control: ControlOptions

    @Argument(help: "One server's id.")
    var id: String?

    func run() throws {
        let reply = try control.send("GET", id.map { "/servers/\($0)" } ?? "/servers")
        let body = control.json(reply)
        if control.format == .json {
            print(body.pretty)
        } else if reply.status != 200 {
            Terminal.error(body["error"]?.stringValue ?? reply.text)
        } else {
            let rows =
                id == nil
                ? try control.decode(ServerList.self, reply).servers : [try control.decode(ServerReport.self, reply)]
            print(
                "ID".padding(20) + "STATE".padding(10) + "PID".padding(9) + "IN-FLIGHT".padding(11)
                    + "RESTARTS".padding(10) + "TOOLS")
            for s in rows {
                let tools = s.tools.joined(separator: ",")
                print(
                    s.id.padding(20) + s.state.rawValue.padding(10) + (s.pid.map { "\($0)" } ?? "-").padding(9)
                        + "\(s.inFlight)".padding(11) + "\(s.restarts)".padding(10) + (tools.isEmpty ? "-" : tools))
            }
            // Why a server is down, in words (the table has no room for them).
            for s in rows { if let why = s.lastError { print("\(s.id): \(why)") } }
        }
        if reply.status != 200 { throw ExitCode(1) }
    }
}

struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Stop, start or restart one server, drain-first.",
        discussion: "stop: in-flight calls finish, then the process stops and calls are refused until start.")

    enum Action: String, ExpressibleByArgument, CaseIterable { case stop, start, restart }

    @OptionGroup var control: ControlOptions
    @OptionGroup var signing: SigningOptions

    @Argument(help: "stop, start or restart.")
    var action: Action

    @Argument(help: "The server's id.")
    var id: String

    func run() throws {
        let headers = try signing.authorization(op: "server.\(action.rawValue)", sha256: nil, server: id)
        let reply = try control.send("POST", "/servers/\(id)/\(action.rawValue)", headers: headers)
        if control.format == .json {
            print(control.json(reply).pretty)
        } else if let body = try? ControlAPIClient.decode(ServerActionReply.self, reply) {
            if reply.status == 200 {
                print(
                    "\(id): \(action.rawValue) done, state \(body.state?.rawValue ?? "?"), pid \(body.pid.map { "\($0)" } ?? "-")"
                )
            } else {
                Terminal.error(
                    "\(id): \(action.rawValue) failed (\(reply.status)): \(body.message ?? body.error ?? reply.text)")
            }
        } else {
            Terminal.error("\(id): \(action.rawValue) failed (\(reply.status)): \(control.json(reply).text)")
        }
        if reply.status != 200 { throw ExitCode(1) }
    }
}

struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "GET a health URL and exit 0 on a 2xx answer: for container HEALTHCHECKs, which have no curl.",
        discussion:
            "Examples: hotswap healthcheck http://127.0.0.1:4444/readyz; hotswap healthcheck /run/hotswap/control.sock")

    @Argument(help: "http://HOST:PORT/PATH, or a control socket path (its /healthz is asked).")
    var target: String

    func run() throws {
        var path = "/healthz"
        var text = target
        if target.hasPrefix("http://") {
            let rest = target.dropFirst(7)
            if let slash = rest.firstIndex(of: "/") {
                path = String(rest[slash...])
                text = "http://" + rest[..<slash]
            }
        }
        guard let endpoint = ControlEndpoint(text) else {
            throw ValidationError("'\(target)' is not a URL or a socket path")
        }
        do {
            let reply = try ControlClient.request(endpoint, method: "GET", path: path, timeoutSeconds: 5)
            guard (200..<300).contains(reply.status) else {
                Terminal.error("\(target): HTTP \(reply.status) \(reply.text)")
                throw ExitCode(1)
            }
        } catch let error as ControlClientError {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }
}
