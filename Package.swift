// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Lantern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lantern", targets: ["lantern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        // OTLP over HTTP only: the gRPC exporter would pull in gRPC for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.0.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        /// Pure campaign ledger: budget accounting, card rules, journal encoding. No I/O.
        .target(name: "LanternLedger", dependencies: ["LanternCatalog"]),
        /// Admission control: adaptive concurrency limit, per-key token buckets, the virtual
        /// waiting room and its signed tickets. Pure; no I/O.
        .target(
            name: "LanternAdmission",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        /// The drink catalog, order-line pricing and the geo index of stores. Pure; no I/O.
        .target(name: "LanternCatalog"),
        /// The assistant: the offline parser and dialogue, and the tools every engine and MCP share.
        .target(name: "LanternAssistant", dependencies: ["LanternAdmission", "LanternCatalog", "LanternLedger", "LanternOrders"]),
        .target(name: "LanternOrders", dependencies: ["LanternCatalog", "LanternLedger"]),
        /// What a campaign bought, read from its journal: funnel, money, referrals, retention,
        /// breakdowns and lateness, exported as JSON, CSV or HTML. Pure; no I/O.
        .target(name: "LanternReports", dependencies: ["LanternCatalog", "LanternLedger", "LanternOrders"]),
        /// Durable stores behind the ledger: SQLite (GRDB) and PostgreSQL (PostgresNIO),
        /// and the group-commit engine that decides claims in memory and commits them in batches.
        .target(
            name: "LanternStorage",
            dependencies: [
                "LanternLedger",
                "LanternAdmission",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        /// The laboratory, apart from the product: arrival profiles of a rush, the district spike
        /// simulation, scratch PostgreSQL databases for benchmarks and tests.
        .target(
            name: "LanternLab",
            dependencies: [
                "LanternCatalog",
                "LanternOrders",
                "LanternStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// The claim wire path, in quarantine: claims read and answered straight from a
        /// connection's bytes for a `WireClaimDesk` the server provides, and the compact HS256
        /// check it needs. Everything it does not recognise goes to Hummingbird whole.
        .target(
            name: "LanternWire",
            dependencies: [
                "LanternLedger",
                "LanternAdmission",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// The application layer: the rules and transactions the HTTP API, MCP and the assistant's
        /// tools share (claims' admission, quotes and orders, store load, experiments, dispatch),
        /// throwing domain errors that each edge gives its own form. No HTTP, no JSON.
        .target(
            name: "LanternApp",
            dependencies: [
                "LanternLedger",
                "LanternCatalog",
                "LanternOrders",
                "LanternAssistant",
                "LanternAdmission",
                "LanternStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        /// HTTP API on Hummingbird: auth, errors, routes.
        .target(
            name: "LanternServer",
            dependencies: [
                "LanternApp",
                "LanternLedger",
                "LanternCatalog",
                "LanternOrders",
                "LanternAssistant",
                "LanternAdmission",
                "LanternReports",
                "LanternStorage",
                "LanternWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        /// The `lantern` command: serve, token, audit, bench, rush, parse.
        .executableTarget(
            name: "lantern",
            dependencies: [
                "LanternLab",
                "LanternApp",
                "LanternLedger",
                "LanternAdmission",
                "LanternCatalog",
                "LanternAssistant",
                "LanternOrders",
                "LanternReports",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                "LanternStorage",
                "LanternServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(name: "LanternLedgerTests", dependencies: ["LanternLedger", "LanternCatalog"]),
        .testTarget(name: "LanternAdmissionTests", dependencies: ["LanternAdmission", "LanternLab"]),
        .testTarget(name: "LanternCatalogTests", dependencies: ["LanternCatalog"]),
        .testTarget(name: "LanternReportsTests", dependencies: ["LanternReports", "LanternCatalog", "LanternLedger"]),
        .testTarget(
            name: "LanternAssistantTests", dependencies: ["LanternAssistant", "LanternCatalog", "LanternLedger", "LanternOrders"],
            exclude: ["Corpus"]),
        .testTarget(name: "LanternOrdersTests", dependencies: ["LanternOrders", "LanternCatalog", "LanternLedger", "LanternLab"]),
        .testTarget(
            name: "LanternStorageTests",
            dependencies: [
                "LanternStorage",
                "LanternCatalog",
                "LanternLab",
                "LanternLedger",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "LanternServerTests",
            dependencies: [
                "LanternServer",
                "LanternApp",
                "LanternWire",
                "LanternLab",
                "LanternStorage",
                "LanternLedger",
                "LanternAdmission",
                "LanternAssistant",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "MCP", package: "swift-sdk"),
            ]
        ),
    ]
)
