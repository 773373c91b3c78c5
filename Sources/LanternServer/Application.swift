import Foundation
import Hummingbird
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage
import Logging
import NIOCore
import ServiceLifecycle

/// How `lantern serve` runs.
public struct ServerConfiguration: Sendable {
    /// Address to listen on.
    public var host: String
    /// Port to listen on.
    public var port: Int
    /// HS256 secret for bearer tokens.
    public var jwtSecret: String
    /// Which store holds the ledger.
    public var database: StoreLocation
    /// Seed the demo campaign when the store has no campaign.
    public var seedDemo: Bool
    /// Log level.
    public var logLevel: Logger.Level
    /// Admission control (rate limits, concurrency limit, waiting room); `enabled: false` turns it off.
    public var admissionEnabled: Bool
    /// Seconds a holder in line may go without asking about their ticket before their place is
    /// passed over; nil keeps every place. Rooms shared by several nodes keep every place.
    public var queuePresence: Double?
    /// Longest a claim waits for its commit before it is answered 503 with Retry-After.
    public var answerDeadline: Duration
    /// Stores in the demo city.
    public var merchants: Int
    /// Seed the demo city is generated from: the same seed gives the same city.
    public var citySeed: UInt64
    /// The optional LLM engine for the assistant; `nil` runs the offline engine only.
    public var llm: LLMConfiguration?
    /// Riders, simulation speed and the demo stores' autopilot.
    public var dispatch: DispatchConfiguration
    /// Give every request a server span (set when a tracer that exports spans is bootstrapped).
    public var tracing: Bool
    /// Connection caps and timeouts, in front of everything else.
    public var connections: ConnectionLimits
    /// The platform's identity provider, whose RS256/ES256 tokens are accepted too; `nil`: Lantern's own only.
    public var identityProvider: IdentityProviderConfiguration?
    /// Answer claims on the connection's event loop (`ClaimFastPath`); off, every claim goes
    /// through the router, as with tracing on.
    public var claimFastPath: Bool
    /// This server's name among the nodes sharing a PostgreSQL database.
    public var node: String
    /// Leases, cache bounds and refresh intervals when the database is shared.
    public var sharing: SharingConfiguration
    /// Days the assistant's transcripts and ended orders' delivery addresses are kept; 0 keeps them.
    public var retentionDays: Int

    /// Creates a configuration; the defaults are what `lantern serve` uses with no arguments.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, jwtSecret: String, database: StoreLocation = .default,
        seedDemo: Bool = true, logLevel: Logger.Level = .info, admissionEnabled: Bool = true,
        answerDeadline: Duration = .seconds(2), merchants: Int = 300, citySeed: UInt64 = 2026,
        llm: LLMConfiguration? = nil, dispatch: DispatchConfiguration = DispatchConfiguration(), tracing: Bool = false,
        node: String = defaultNodeID(), sharing: SharingConfiguration = SharingConfiguration(), claimFastPath: Bool = true,
        identityProvider: IdentityProviderConfiguration? = nil, connections: ConnectionLimits = ConnectionLimits(),
        queuePresence: Double? = 90, retentionDays: Int = 30
    ) {
        self.retentionDays = retentionDays
        self.queuePresence = queuePresence
        self.connections = connections
        self.identityProvider = identityProvider
        self.claimFastPath = claimFastPath
        self.tracing = tracing
        self.node = node
        self.sharing = sharing
        self.llm = llm
        self.dispatch = dispatch
        self.merchants = merchants
        self.citySeed = citySeed
        self.host = host
        self.port = port
        self.jwtSecret = jwtSecret
        self.database = database
        self.seedDemo = seedDemo
        self.logLevel = logLevel
        self.admissionEnabled = admissionEnabled
        self.answerDeadline = answerDeadline
    }
}

/// The demo campaign `lantern serve` seeds into an empty store: 25-yuan cards from a
/// 3-billion-yuan budget, open for a month from now.
public func demoCampaign(now: Date = Date()) -> Campaign {
    let start = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600 - 3600)
    return Campaign(
        id: "spring-festival", name: "Spring Festival free tea", budgetFen: 300_000_000_000, cardValueFen: 2_500,
        maxCardsPerUser: 3, startsAt: start, endsAt: start.addingTimeInterval(30 * 86_400),
        cardsExpireAt: start.addingTimeInterval(60 * 86_400))
}

/// Builds the HTTP routes.
public func buildRouter(
    engine: LedgerEngine, store: any LedgerStore, sessions: AssistantSessions, tokens: TokenAuthority, admission: AdmissionControl,
    directory: MerchantDirectory, board: MerchantBoard = MerchantBoard(), events: OrderEvents = OrderEvents(),
    dispatch: DispatchService? = nil, keeper: SharedLedgerKeeper? = nil,
    llm: LLMConfiguration? = nil, metrics: LanternMetrics = LanternMetrics(), tracing: Bool = false,
    history: StatsHistory? = nil, experiments: ExperimentService? = nil, clock: @escaping @Sendable () -> Date = Date.init
) -> Router<LanternRequestContext> {
    let router = Router(context: LanternRequestContext.self)
    router.add(middleware: RequestObservationMiddleware(metrics: metrics))
    // A server span per request, only when spans are exported: even with the no-op tracer the
    // middleware costs about a third of a `/healthz` request's time.
    if tracing { router.add(middleware: TracingMiddleware()) }
    router.add(middleware: ErrorMiddleware())
    router.get("healthz") { _, _ in JSONBody.response(["status": "ok"]) }
    router.get("openapi.yaml") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.bytes())))
    }
    // Ready means the database answers and the ledger is loaded; a node sharing the database
    // also says who it is and what budget its leases hold.
    router.get("readyz") { _, _ in
        do {
            try await engine.ping()
            _ = try engine.read { _ in true }
        } catch {
            throw APIError.unavailable("the store is not answering")
        }
        var json = JSONWriter()
        json.beginObject()
        json.field("status", "ready")
        if let keeper {
            json.field("node", keeper.node)
            json.beginArray("leases")
            for lease in keeper.leases {
                json.beginObject()
                json.field("campaign", lease.campaign)
                json.field("allowance_fen", lease.allowanceFen)
                json.endObject()
            }
            json.endArray()
        }
        json.endObject()
        return json.response(status: .ok)
    }
    let v1 = router.group("v1").add(middleware: EventLoopAffinityMiddleware())
        .add(middleware: AnswerDeadlineMiddleware(deadline: engine.answerDeadline))
        .add(middleware: BearerAuthMiddleware(tokens: tokens))
    CampaignController(engine: engine, admission: admission, audit: AuditTrail(store: store, clock: clock)).addRoutes(to: v1)
    router.group("metrics").add(middleware: BearerAuthMiddleware(tokens: tokens)).get { _, context -> Response in
        _ = try context.require(.admin)
        let text = try metrics.render(
            engine: engine, admission: admission, directory: directory, board: board, dispatch: dispatch, keeper: keeper)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
    let merchants = MerchantController(
        engine: engine, directory: directory, board: board, events: events, audit: AuditTrail(store: store, clock: clock),
        tokens: tokens, clock: clock)
    merchants.addRoutes(to: v1)
    router.get("merchant/stream", use: merchants.stream)
    router.get("merchant") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: MerchantPage.html)))
    }
    let orders = OrderController(
        engine: engine, directory: directory, board: board, events: events, admission: admission, dispatch: dispatch,
        experiments: experiments, clock: clock)
    orders.addRoutes(to: v1)
    if let experiments { ExperimentController(engine: engine, experiments: experiments, clock: clock).addRoutes(to: v1) }
    AssistantController(
        orders: orders.service, stores: merchants.stores, engine: engine, admission: admission, sessions: sessions,
        llm: llm.map { LLMAssistant($0) }, metrics: metrics, clock: clock
    ).addRoutes(to: v1)
    OperatorController(
        engine: engine, admission: admission, directory: directory, board: board, dispatch: dispatch, keeper: keeper,
        tokens: tokens, clock: clock, history: history
    ).addRoutes(root: router, v1: v1)
    ReportController(store: store, directory: directory, tokens: tokens).addRoutes(root: router)
    let mcp = router.group("mcp").add(middleware: EventLoopAffinityMiddleware())
        .add(middleware: BearerAuthMiddleware(tokens: tokens))
    MCPController(orders: orders.service, stores: merchants.stores, engine: engine, admission: admission, clock: clock)
        .addRoutes(to: mcp)
    return router
}

/// Builds the whole application: store, ledger engine, routes, and their lifecycle.
///
/// Services shut down in reverse order: the HTTP server drains in-flight requests first, then
/// the engine commits what is pending, then the database pool closes.
public func buildApplication(_ configuration: ServerConfiguration) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "lantern")
    logger.logLevel = configuration.logLevel
    let opened = try openStore(configuration.database, logger: logger, node: configuration.node)
    let metrics = LanternMetrics()
    let engine = LedgerEngine(
        store: opened.store, logger: logger, answerDeadline: configuration.answerDeadline, metrics: metrics.factory)
    return try await buildApplication(configuration, store: opened, engine: engine, logger: logger, metrics: metrics)
}

/// Builds the application over a store that is already open and an engine over it (tests
/// pass an engine with their own clock).
public func buildApplication(
    _ configuration: ServerConfiguration, store opened: OpenedStore, engine: LedgerEngine, logger: Logger,
    metrics: LanternMetrics = LanternMetrics(), clock: @escaping @Sendable () -> Date = Date.init
) async throws -> some ApplicationProtocol {
    let tokens = try await TokenAuthority(secret: configuration.jwtSecret, provider: configuration.identityProvider)
    let admission = AdmissionControl(
        AdmissionConfiguration(
            enabled: configuration.admissionEnabled, ticketSecret: configuration.jwtSecret,
            presenceWindowSeconds: configuration.queuePresence),
        clock: clock)
    let desk = ClaimDesk(engine: engine, admission: admission)
    let serverName = "Lantern"
    let sessions = AssistantSessions(store: opened.store, logger: logger)
    let directory = MerchantDirectory(stores: DemoCity.stores(count: configuration.merchants, seed: configuration.citySeed))
    let board = MerchantBoard(database: opened.store, logger: logger)
    let experiments = ExperimentService(store: opened.store, tokens: tokens, logger: logger, clock: clock)
    let storeStatus = StoreService(engine: engine, directory: directory, board: board, clock: clock)
    let events = OrderEvents { order in
        try? storeStatus.backlogChanged(at: order.draft.merchantID)
        await experiments.record(order)
    }
    let dispatch = DispatchService(
        configuration.dispatch, engine: engine, directory: directory, events: events, seed: configuration.citySeed,
        logger: logger, metrics: metrics.factory, policy: { experiments.dispatch($0) }, clock: clock)
    // Over PostgreSQL every node shares each campaign's waiting room (a service that returned
    // early would stop the whole group, so none runs while admission is off).
    let sharedRooms: [SharedWaitingRooms] = (opened.store as? PostgresLedgerStore).map {
        configuration.admissionEnabled ? [SharedWaitingRooms(store: $0, engine: engine, admission: admission, logger: logger)] : []
    } ?? []
    // Over a shared database a keeper leases this node's budget and brings other nodes' changes in.
    let keeper = (opened.store as? PostgresLedgerStore).map { store in
        SharedLedgerKeeper(
            store: store, engine: engine, configuration: configuration.sharing, logger: logger, metrics: metrics.factory,
            isFollowed: { events.isFollowed($0) }
        ) { order in events.heard(order) }
    }
    let retention = RetentionService(
        days: configuration.retentionDays, engine: engine, sessions: sessions, logger: logger, clock: clock)
    let census = ConnectionCensus(limits: configuration.connections)
    let history = StatsHistory(
        metrics: metrics, clock: clock,
        sample: { try OperatorController.sample(engine: engine, admission: admission, dispatch: dispatch) },
        load: { try OperatorController.load(engine: engine, directory: directory, board: board) })
    var app = Application(
        router: buildRouter(
            engine: engine, store: opened.store, sessions: sessions, tokens: tokens, admission: admission, directory: directory,
            board: board, events: events, dispatch: dispatch, keeper: keeper, llm: configuration.llm, metrics: metrics,
            tracing: configuration.tracing, history: history, experiments: experiments, clock: clock),
        // Claims are answered on the connection's event loop when nothing would record a span
        // for them; with tracing on, every claim goes through the router's tracing middleware.
        server: configuration.tracing || !configuration.claimFastPath
            ? .guardedHTTP1(census: census)
            : .http1WithClaimFastPath(
                desk: desk, tokens: tokens, metrics: metrics, serverName: serverName, logger: logger, census: census),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: serverName,
            backlog: configuration.connections.backlog),
        // The keeper starts before the engine and stops after it, so it returns the leases
        // only once the engine has committed its last batch.
        services: opened.services + (keeper.map { [$0] } ?? []) + [
            engine, AdmissionPersistence(admission: admission, store: opened.store, logger: logger, node: keeper?.node),
        ] + sharedRooms + [board, sessions, dispatch, history, experiments, retention],
        onServerRunning: { channel in
            // NIO accepts four connections per turn of the listening socket's event loop, and
            // a loop serving a crowd turns slowly (a turn took 300 ms while 10,000 connections
            // arrived): whoever is still queued waits for the next turn with its first request
            // already sent. One turn takes in all the backlog can hold. With 4,096 a turn, a
            // crowd of 10,000 arriving at once left 847–1,561 first requests waiting over 1 s;
            // with the whole backlog, none.
            try? await channel.setOption(ChannelOptions.maxMessagesPerRead, value: UInt(max(1, census.limits.backlog))).get()
        },
        logger: logger)
    let seedDemo = configuration.seedDemo
    let city = CityDefinition(
        name: "Shanghai (demo)", merchants: configuration.merchants, riders: configuration.dispatch.riders, seed: configuration.citySeed)
    app.beforeServerStarts {
        try await opened.prepare()
        try await engine.load()
        try await AdmissionPersistence.restore(admission, from: opened.store, node: keeper?.node)
        // A shared room's frontier is the database's: read it before the first ticket is asked about.
        for rooms in sharedRooms { try await rooms.sync() }
        try await board.restore()
        try storeStatus.applyAutoPause()
        try await experiments.restore(from: engine)
        if seedDemo, try engine.read({ $0.allAccounts.isEmpty }) {
            do {
                _ = try await engine.createCampaign(demoCampaign())
                logger.info("seeded the demo campaign 'spring-festival'")
            } catch is LedgerUnavailable {
                // Nodes starting together on one empty database race to seed; one wins.
                logger.notice("another node seeded the demo campaign")
            }
        }
        if try await CityDefinition.load(from: opened.store) == nil {
            try await city.save(to: opened.store)
            logger.info("seeded the demo city", metadata: ["stores": "\(city.merchants)", "riders": "\(city.riders)"])
        }
    }
    return app
}
