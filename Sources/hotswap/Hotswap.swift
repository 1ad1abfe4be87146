import ArgumentParser
import HotswapCore

@main
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
