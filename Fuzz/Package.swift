// swift-tools-version: 6.1
// Coverage-guided fuzz targets (libFuzzer). Not part of the main package: build it with `scripts/fuzz`, which
// uses the scratch path .build-fuzz. The library targets are symlinks to the main package's Sources/ and must
// mirror the main Package.swift's graph for the modules they cover; only they and the fuzz targets are built
// with `-sanitize=fuzzer,address` (dependencies such as NIO are built plainly: no coverage noise from them).
import PackageDescription

/// Coverage and AddressSanitizer on the code under test, optimized (a debug build fuzzes several times slower).
let instrumented: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-O"])]
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

let package = Package(
    name: "hotswap-fuzz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fuzz-json", targets: ["fuzz-json"]),
        .executable(name: "fuzz-catalog", targets: ["fuzz-catalog"]),
        .executable(name: "fuzz-token", targets: ["fuzz-token"]),
        .executable(name: "fuzz-reply", targets: ["fuzz-reply"]),
        .executable(name: "fuzz-gateway", targets: ["fuzz-gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The code under test (symlinks into ../Sources), as the main Package.swift declares it.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CHotswapSys"),
        .target(name: "HotswapCore", dependencies: ["CYAML", "COpenSSL"], swiftSettings: instrumented),
        .target(name: "HotswapAPI", dependencies: ["HotswapCore"], swiftSettings: instrumented),
        .target(
            name: "HotswapRuntime",
            dependencies: [
                "HotswapCore", "CHotswapSys",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: instrumented),
        .target(
            name: "HotswapWatch",
            dependencies: [
                "HotswapCore", "HotswapAPI", "HotswapRuntime", "HotswapClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: instrumented),
        .target(
            name: "HotswapClient", dependencies: ["HotswapCore", "HotswapAPI"],
            // For `@testable import`: the reply parser is internal.
            swiftSettings: instrumented + [.unsafeFlags(["-enable-testing"])]),
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
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            // The remote transport (async-http-client, BoringSSL) is left out: the message routing is what is
            // fuzzed, and instrumenting a TLS stack would double the build for nothing it reaches.
            exclude: ["Backend/Transport/HTTPTransport.swift"],
            swiftSettings: instrumented + [.define("HOTSWAP_NO_REMOTE")]),

        // The fuzz targets: one file each, defining LLVMFuzzerTestOneInput; libFuzzer provides main.
        .executableTarget(
            name: "fuzz-json", dependencies: ["HotswapCore"], swiftSettings: instrumented, linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-catalog", dependencies: ["HotswapCore"], swiftSettings: instrumented,
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-token", dependencies: ["HotswapCore"], swiftSettings: instrumented, linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-reply", dependencies: ["HotswapClient", "HotswapCore"], swiftSettings: instrumented,
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-gateway",
            dependencies: [
                "HotswapCore", "HotswapGateway",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: instrumented, linkerSettings: fuzzerLink),
    ],
    swiftLanguageModes: [.v6]
)
