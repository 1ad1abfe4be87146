import ArgumentParser
import HotswapCore

@main
struct Hotswap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotswap",
        abstract: "Hot reload for MCP gateways in containers.",
        discussion: """
            Validate, diff and hash MCP server catalogs, and mint and verify the signed \
            tokens that authorize a reload. Flags that name a setting also read a \
            HOTSWAP_* environment variable, shown in their help.
            """,
        version: "0.1.0",
        subcommands: [
            ValidateCommand.self, DiffCommand.self, HashCommand.self, KeygenCommand.self, TokenCommand.self,
        ]
    )
}
