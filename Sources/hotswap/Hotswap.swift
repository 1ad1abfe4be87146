import ArgumentParser
import Foundation
import HotswapCore
import HotswapDemo

@main
struct Hotswap: AsyncParsableCommand {
    /// Called as `mcp-demo-server` (the image's link to this binary), it is the demo server; else the CLI.
    static func main() async {
        let name = CommandLine.arguments.first?.split(separator: "/").last.map(String.init)
        if name == "mcp-demo-server" {
            do {
                try await DemoServer.run(Array(CommandLine.arguments.dropFirst()))
                Foundation.exit(0)
            } catch {
                Terminal.error("mcp-demo-server: \(error)")
                Foundation.exit(1)
            }
        }
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

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
