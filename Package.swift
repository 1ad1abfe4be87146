// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "hotswap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hotswap", targets: ["hotswap"]),
        .library(name: "HotswapCore", targets: ["HotswapCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        .target(
            name: "HotswapCore",
            dependencies: ["CYAML", "COpenSSL"]
        ),
        .executableTarget(
            name: "hotswap",
            dependencies: [
                "HotswapCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "hotswap-bench",
            dependencies: ["HotswapCore"]
        ),
        .target(
            name: "HotswapTestSupport",
            dependencies: ["HotswapCore"],
            path: "Tests/HotswapTestSupport"
        ),
        .testTarget(
            name: "HotswapCoreTests",
            dependencies: ["HotswapCore", "HotswapTestSupport"]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["HotswapCore", "HotswapTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
