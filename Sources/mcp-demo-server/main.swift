import HotswapDemo

try await DemoServer.run(Array(CommandLine.arguments.dropFirst()))
