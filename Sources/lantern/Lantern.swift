import ArgumentParser
import Foundation
import LanternApp
import LanternLedger
import LanternServer
import LanternStorage
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// The `lantern` command.
struct Lantern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lantern: assistant-led flash promotions for food and drink delivery.",
        subcommands: [Serve.self, Seed.self, Token.self, Audit.self, Report.self, Bench.self, Rush.self, Parse.self, MCP.self],
        defaultSubcommand: Serve.self)

    /// Parses the command line and runs the chosen subcommand.
    static func launch() async {
        await main()
    }
}

/// Options naming the store, shared by several subcommands.
struct DatabaseOption: ParsableArguments {
    @Option(
        name: .long,
        help: "sqlite:PATH (embedded, the default is sqlite:lantern.sqlite) or postgres://user:password@host:port/db")
    var database: String = "sqlite:lantern.sqlite"

    func location() throws -> StoreLocation {
        do {
            return try StoreLocation(parsing: database)
        } catch let error as StoreLocation.ParseError {
            throw ValidationError(error.description)
        }
    }
}

/// Options naming the JWT secret, shared by `serve` and `token`.
struct SecretOption: ParsableArguments {
    @Option(name: .long, help: "HS256 secret for bearer tokens (or LANTERN_JWT_SECRET; otherwise the secret file)")
    var jwtSecret: String?

    @Option(name: .long, help: "File holding the secret, created with a random one if missing.")
    var secretFile: String = "lantern.jwt-secret"

    /// The secret from the flag, the environment, or the secret file (created on first use).
    func resolve() throws -> String {
        if let jwtSecret, !jwtSecret.isEmpty { return jwtSecret }
        if let fromEnvironment = ProcessInfo.processInfo.environment["LANTERN_JWT_SECRET"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if let existing = try? String(contentsOfFile: secretFile, encoding: .utf8) {
            let trimmed = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        _ = FileManager.default.createFile(
            atPath: secretFile, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return secret
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the Lantern server.")

    @Option(name: .long, help: "Address to listen on.") var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on.") var port = 8080
    @OptionGroup var database: DatabaseOption
    @OptionGroup var secret: SecretOption
    @Flag(name: .long, help: "Do not seed the demo campaign into an empty store.") var noSeed = false
    @Option(name: .long, help: "Log level (trace, debug, info, notice, warning, error); debug logs every request.")
    var logLevel = "info"
    @Option(name: .long, help: "Log lines as text or json (one object per line, with request ids).") var logFormat = "text"
    @Option(name: .long, help: "Export tracing spans with OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318).")
    var otlpEndpoint: String?
    @Option(name: .long, help: "Admission control: on (rate limits, adaptive limit, waiting room) or off.")
    var admission = "on"
    @Option(name: .long, help: "Answer claims on the connection's event loop (on) or send every claim through the router (off).")
    var claimFastPath = "on"
    @Option(name: .long, help: "JWKS of the platform's identity provider (a file or an http(s) URL): its RS256/ES256 tokens are accepted too.")
    var jwks: String?
    @Option(name: .long, help: "With --jwks: the iss the provider's tokens must carry.") var jwtIssuer: String?
    @Option(name: .long, help: "With --jwks: an aud the provider's tokens must list.") var jwtAudience: String?
    @Option(name: .long, help: "Open connections from one client address; past it, 503 and close.")
    var maxConnectionsPerAddress = 1_024
    @Option(name: .long, help: "Open connections in all (default: the file limit less 256).") var maxConnections: Int?
    @Option(name: .long, help: "Seconds from a request's first byte to the start of its answer before the connection is closed.")
    var requestTimeout: Double = 30
    @Option(name: .long, help: "Seconds a kept-alive connection may stay silent.") var idleTimeout: Double = 75
    @Option(name: .long, help: "Seconds a holder in line may go without asking about their ticket before their place is passed over (0: places are kept).")
    var queuePresence: Double = 90
    @Option(name: .long, help: "Days the assistant's transcripts and ended orders' delivery addresses are kept (0: kept for good).")
    var retentionDays = 30
    @Option(name: .long, help: "Connections the kernel may queue before they are accepted (capped by net.core.somaxconn).")
    var listenBacklog = 16_384
    @Option(name: .long, help: "Seconds a claim may wait for its commit before it is answered 503 + Retry-After.")
    var deadline: Double = 2
    @Option(name: .long, help: "Stores of the demo city seeded into an empty store (a seeded city is kept).") var merchants = 300
    @Option(name: .long, help: "Seed of the demo city seeded into an empty store.") var citySeed: UInt64 = 2026
    @Option(name: .long, help: "OpenAI-compatible base URL (…/v1) for the optional LLM engine; unset: offline engine only.")
    var llmBaseUrl: String?
    @Option(name: .long, help: "Model name for the LLM engine.") var llmModel = "qwen-plus"
    @Option(name: .long, help: "Seconds one model call may take before the turn falls back to the offline engine.")
    var llmTimeout: Double = 8
    @Option(name: .long, help: "Model calls in flight at once; beyond it turns fall back at once.") var llmMaxConcurrent = 32
    @Option(name: .long, help: "Riders of the demo city seeded into an empty store (0: no dispatch).") var riders = 200
    @Option(name: .long, help: "Simulation speed for riders and autopilot stores (1: real time).") var timeScale: Double = 1
    @Flag(name: .long, help: "Demo stores accept every order at once and mark it ready when predicted.") var autopilot = false
    @Option(name: .long, help: "This server's name among nodes sharing a PostgreSQL database (default: HOSTNAME-PORT).")
    var nodeId: String?
    @Option(name: .long, help: "Seconds a budget lease outlives its node's last renewal (PostgreSQL).")
    var leaseSeconds: Double = 5
    @Option(name: .long, help: "Users a node keeps in memory over PostgreSQL; beyond it, it forgets some.")
    var cacheUsers = 200_000

    func run() async throws {
        guard admission == "on" || admission == "off" else { throw ValidationError("--admission takes on or off") }
        guard claimFastPath == "on" || claimFastPath == "off" else { throw ValidationError("--claim-fast-path takes on or off") }
        guard logFormat == "text" || logFormat == "json" else { throw ValidationError("--log-format takes text or json") }
        if logFormat == "json" { LoggingSystem.bootstrap(JSONLogHandler.init) }
        guard (1...3_000_000).contains(merchants) else { throw ValidationError("--merchants takes 1…3000000") }
        if let nodeId, !Identifier.isValid(nodeId) { throw ValidationError("--node-id takes 1-64 of a-z, A-Z, 0-9, '-', '_'") }
        // A city seeded into the store (lantern seed) wins over the flags, which seed an empty store.
        var logger = Logger(label: "lantern")
        logger.logLevel = .warning
        let location = try database.location()
        let opened = try openStore(location, logger: logger)
        let stored = try await opened.whileRunning(logger: logger) { try await CityDefinition.load(from: opened.store) }
        let city = stored ?? CityDefinition(name: "Shanghai (demo)", merchants: merchants, riders: max(0, riders), seed: citySeed)
        let configuration = ServerConfiguration(
            host: host, port: port, jwtSecret: try secret.resolve(), database: location,
            seedDemo: !noSeed, logLevel: Logger.Level(rawValue: logLevel) ?? .info, admissionEnabled: admission == "on",
            answerDeadline: .milliseconds(Int64(max(0.05, deadline) * 1_000)), merchants: city.merchants, citySeed: city.seed,
            llm: llmBaseUrl.map {
                LLMConfiguration(
                    baseURL: $0, model: llmModel, apiKey: ProcessInfo.processInfo.environment["LANTERN_LLM_API_KEY"],
                    timeout: .milliseconds(Int64(max(0.1, llmTimeout) * 1_000)), maxConcurrentCalls: max(1, llmMaxConcurrent))
            },
            dispatch: DispatchConfiguration(riders: city.riders, timeScale: max(0.01, timeScale), autopilot: autopilot),
            tracing: otlpEndpoint != nil, node: nodeId ?? "\(ProcessInfo.processInfo.hostName)-\(port)",
            sharing: SharingConfiguration(
                leaseTTL: .milliseconds(Int64(max(1, leaseSeconds) * 1_000)), cachedUsers: max(1_000, cacheUsers)),
            claimFastPath: claimFastPath == "on",
            identityProvider: jwks.map { IdentityProviderConfiguration(jwks: $0, issuer: jwtIssuer, audience: jwtAudience) },
            connections: ConnectionLimits(
                perAddress: max(1, maxConnectionsPerAddress), total: max(1, maxConnections ?? ConnectionLimits.defaultTotal),
                requestTimeout: .milliseconds(Int64(max(0.1, requestTimeout) * 1_000)),
                idleTimeout: .milliseconds(Int64(max(0.1, idleTimeout) * 1_000)), backlog: max(1, listenBacklog)),
            queuePresence: queuePresence > 0 ? max(10, queuePresence) : nil, retentionDays: max(0, retentionDays))
        let app = try await buildApplication(configuration)
        guard let otlpEndpoint else {
            try await app.runService()
            return
        }
        // The exporter is listed first so it stops last, after the server has finished its spans.
        let tracing = try Self.bootstrapTracing(endpoint: otlpEndpoint)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: tracing), .init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: app.logger))
        try await group.run()
    }

    /// Makes swift-otel's OTLP/HTTP span exporter the process's tracer; returns its exporter service.
    static func bootstrapTracing(endpoint: String) throws -> some Service {
        var otel = OTel.Configuration.default
        otel.serviceName = "lantern"
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        otel.traces.otlpExporter.endpoint = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
        otel.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        let (tracer, service) = try OTel.makeTracingBackend(configuration: otel)
        InstrumentationSystem.bootstrap(tracer)
        return service
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a bearer token (or, with --count, one per line for many users).")

    @Option(name: .long, help: "User id (the token's sub); with --count, the prefix of the user ids.")
    var user: String
    @Option(name: .long, help: "user, merchant or admin.") var role = "user"
    @Option(name: .long, help: "Store id, for merchant tokens.") var merchant: String?
    @Option(name: .long, help: "Lifetime in seconds.") var ttl: Int = 86_400
    @Option(name: .long, help: "Mint tokens for users PREFIX0 … PREFIX(N-1), printed as 'user<TAB>token'.")
    var count: Int?
    @OptionGroup var secret: SecretOption

    func run() async throws {
        guard let role = Role(rawValue: role) else { throw ValidationError("--role must be user, merchant or admin") }
        if role == .merchant && merchant == nil { throw ValidationError("merchant tokens need --merchant") }
        let tokens = try await TokenAuthority(secret: try secret.resolve())
        guard let count else {
            print(try await tokens.mint(Identity(userID: user, role: role, merchantID: merchant), lifetime: TimeInterval(ttl)))
            return
        }
        var lines: [String] = []
        lines.reserveCapacity(count)
        for index in 0..<count {
            let id = "\(user)\(index)"
            let token = try await tokens.mint(Identity(userID: id, role: role, merchantID: merchant), lifetime: TimeInterval(ttl))
            lines.append("\(id)\t\(token)")
        }
        print(lines.joined(separator: "\n"))
    }
}
