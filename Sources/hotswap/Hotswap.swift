import ArgumentParser
import Foundation
import HotswapCore
import HotswapDemo

/// The program's entry: called as `mcp-demo-server` (the image's link to this binary) it is the demo server,
/// otherwise the CLI.
@main
enum Entry {
    static func main() async {
        guard CommandLine.arguments.first?.split(separator: "/").last == "mcp-demo-server" else {
            await cli()
            return
        }
        do {
            try await DemoServer.run(Array(CommandLine.arguments.dropFirst()))
        } catch {
            Terminal.error("mcp-demo-server: \(error)")
            exit(1)
        }
    }

    /// ArgumentParser's own main, but a setting refused while a subcommand runs (a `ValidationError` from `run`,
    /// e.g. an unreadable --ca-file) names that subcommand's help instead of printing the root's usage line.
    static func cli() async {
        var command: any ParsableCommand
        do { command = try Hotswap.parseAsRoot() } catch { Hotswap.exit(withError: error) }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let refused as ValidationError {
            let name = type(of: command).configuration.commandName ?? "hotswap"
            Terminal.error("Error: \(refused.message)\n  See 'hotswap \(name) --help'.")
            exit(ExitCode.validationFailure.rawValue)
        } catch {
            Hotswap.exit(withError: error)
        }
    }
}

struct Hotswap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotswap",
        abstract: "Hot reload for MCP gateways in containers.",
        discussion: """
            Run the gateway; reload it and look inside it through its control socket; \
            validate, diff and hash catalogs; mint and verify the signed tokens that \
            authorize a reload. Flags that name a setting also read a HOTSWAP_* \
            environment variable, shown in their help.
            """,
        version: "0.1.0",
        subcommands: [
            GatewayCommand.self, SidecarCommand.self, ReloadCommand.self, StatusCommand.self, ServersCommand.self,
            ServerCommand.self,
            ValidateCommand.self, DiffCommand.self, HashCommand.self, KeygenCommand.self, TokenCommand.self,
            HealthcheckCommand.self, ConnectCommand.self,
        ]
    )
}
