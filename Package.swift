// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "hotswap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hotswap", targets: ["hotswap"]),
        .executable(name: "mcp-demo-server", targets: ["mcp-demo-server"]),
        .library(name: "HotswapCore", targets: ["HotswapCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "CHotswapSys"),
        .target(
            name: "HotswapCore",
            dependencies: ["CYAML", "COpenSSL"]
        ),
        .target(
            name: "HotswapAPI",
            dependencies: ["HotswapCore"]
        ),
        .target(
            name: "HotswapRuntime",
            dependencies: [
                "HotswapCore", "CHotswapSys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "HotswapClient",
            dependencies: ["HotswapCore", "HotswapAPI"]
        ),
        .target(
            name: "HotswapWatch",
            dependencies: [
                "HotswapCore", "HotswapAPI", "HotswapRuntime", "HotswapClient",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "HotswapGateway",
            dependencies: [
                "HotswapCore",
                "HotswapAPI",
                "HotswapRuntime",
                "HotswapWatch",
                "CHotswapSys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .target(
            name: "HotswapSidecar",
            dependencies: [
                "HotswapCore",
                "HotswapAPI",
                "HotswapRuntime",
                "HotswapWatch",
                "HotswapClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(
            name: "hotswap",
            dependencies: [
                "HotswapCore",
                "HotswapAPI",
                "HotswapClient",
                "HotswapRuntime",
                "HotswapWatch",
                "HotswapGateway",
                "HotswapSidecar",
                "HotswapDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "HotswapDemo",
            dependencies: [
                "HotswapCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(name: "mcp-demo-server", dependencies: ["HotswapDemo"]),
        .executableTarget(
            name: "hotswap-bench",
            dependencies: [
                "HotswapCore", "HotswapAPI", "HotswapClient", "HotswapGateway", "HotswapRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "HotswapTestSupport",
            dependencies: ["HotswapCore", "HotswapAPI", "HotswapClient", "HotswapWatch"],
            path: "Tests/HotswapTestSupport"
        ),
        .testTarget(
            name: "HotswapCoreTests",
            dependencies: ["HotswapCore", "HotswapTestSupport"]
        ),
        .testTarget(
            name: "HotswapAPITests",
            dependencies: ["HotswapAPI"]
        ),
        .testTarget(
            name: "HotswapRuntimeTests",
            dependencies: ["HotswapCore", "HotswapRuntime", "HotswapTestSupport"]
        ),
        .testTarget(
            name: "HotswapWatchTests",
            dependencies: [
                "HotswapCore", "HotswapRuntime", "HotswapWatch", "HotswapTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "HotswapClientTests",
            dependencies: ["HotswapClient", "HotswapAPI"]
        ),
        .testTarget(
            name: "HotswapGatewayTests",
            dependencies: [
                "HotswapCore", "HotswapAPI", "HotswapRuntime", "HotswapGateway", "HotswapTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HotswapSidecarTests",
            dependencies: ["HotswapSidecar", "HotswapTestSupport"]
        ),
        // Every suite that starts a binary (the gateway, the sidecar, the CLI, Python SDK clients and servers).
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "HotswapCore", "HotswapAPI", "HotswapRuntime", "HotswapWatch", "HotswapClient", "HotswapGateway",
                "HotswapSidecar", "HotswapTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
