import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import LanternLab
import LanternLedger
import LanternStorage
import Logging
import Synchronization
import Testing

@testable import LanternServer

/// Which store a test runs on. PostgreSQL runs when `LANTERN_TEST_POSTGRES_URL` names a server
/// (`scripts/test` and `.ci/run` start one); each test gets its own scratch database.
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    var description: String { rawValue }

    static let postgresServerURL = ProcessInfo.processInfo.environment["LANTERN_TEST_POSTGRES_URL"]

    /// The stores available in this run.
    static var available: [StoreKind] { postgresServerURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_770_000_000))
    var date: Date { now.withLock { $0 } }
    func advance(by seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

let testSecret = "test-secret-for-lantern-0123456789abcdef"

/// A store that lives across several application runs within one test.
struct TestStore: Sendable {
    let kind: StoreKind
    let location: StoreLocation
    private let cleanup: @Sendable () async throws -> Void

    static func make(_ kind: StoreKind) async throws -> TestStore {
        switch kind {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-test-\(UUID().uuidString).sqlite").path
            return TestStore(kind: kind, location: .sqlite(path: path)) {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
        case .postgres:
            let scratch = try await PostgresScratchDatabase.create(
                serverURL: StoreKind.postgresServerURL!, prefix: "lantern_test", logger: quietLogger)
            return TestStore(kind: kind, location: .postgres(url: scratch.url)) { try await scratch.drop() }
        }
    }

    func remove() async throws { try await cleanup() }
}

let quietLogger: Logger = {
    var logger = Logger(label: "lantern.test")
    logger.logLevel = .critical
    return logger
}()

/// How a test's requests reach the application.
enum Transport: String, CaseIterable, CustomStringConvertible, Sendable {
    /// Straight to the router, no sockets.
    case router
    /// Over a real HTTP connection, through the whole channel pipeline (claims take
    /// `ClaimFastPath` this way).
    case live

    var description: String { rawValue }

    var setup: TestingSetup {
        switch self {
        case .router: .router
        case .live: .live
        }
    }
}

/// What a test gets: a client, tokens, the engine and the clock.
struct TestApp: Sendable {
    let client: any TestClientProtocol
    let tokens: TokenAuthority
    let engine: LedgerEngine
    let clock: TestClock

    func token(_ user: String, role: Role = .user, merchant: String? = nil) async throws -> String {
        try await tokens.mint(Identity(userID: user, role: role, merchantID: role == .merchant ? merchant ?? "m1" : nil))
    }

    /// Sends a request with the caller's token and JSON body.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ path: String, as user: String? = nil, role: Role = .user, merchant: String? = nil,
        headers extra: HTTPFields = [:], body: String? = nil
    ) async throws -> Reply {
        var headers = extra
        if let user { headers[.authorization] = "Bearer \(try await token(user, role: role, merchant: merchant))" }
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
    }

    /// Claims the campaign's card for `user` with a fresh or given idempotency key.
    @discardableResult
    func claim(
        _ user: String, campaign: String = "spring", key: String? = nil, body: String? = nil
    ) async throws -> Reply {
        try await send(
            .post, "/v1/campaigns/\(campaign)/claims", as: user,
            headers: [.idempotencyKey: key ?? UUID().uuidString], body: body)
    }

    /// Creates a campaign as an admin.
    func createCampaign(
        id: String = "spring", budget: Int64 = 1_000_000, value: Int64 = 2_500, cap: Int = 3,
        startsIn: TimeInterval = -60, endsIn: TimeInterval = 3_600, expiresIn: TimeInterval = 7_200
    ) async throws -> HTTPResponse.Status {
        let body = campaignBody(id: id, budget: budget, value: value, cap: cap, startsIn: startsIn, endsIn: endsIn, expiresIn: expiresIn)
        return try await send(.post, "/v1/campaigns", as: "ops", role: .admin, body: body).status
    }

    /// The JSON that creates a campaign, for tests that send it over a socket of their own.
    func campaignBody(
        id: String = "spring", budget: Int64 = 1_000_000, value: Int64 = 2_500, cap: Int = 3,
        startsIn: TimeInterval = -60, endsIn: TimeInterval = 3_600, expiresIn: TimeInterval = 7_200
    ) -> String {
        let formatter = ISO8601DateFormatter()
        let now = clock.date
        return """
            {"id":"\(id)","name":"Spring test","budget_fen":\(budget),"card_value_fen":\(value),
             "max_cards_per_user":\(cap),"starts_at":"\(formatter.string(from: now.addingTimeInterval(startsIn)))",
             "ends_at":"\(formatter.string(from: now.addingTimeInterval(endsIn)))",
             "cards_expire_at":"\(formatter.string(from: now.addingTimeInterval(expiresIn)))"}
            """
    }
}

/// One HTTP answer.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    /// `card.id` of a claim answer.
    var cardID: String? { (json["card"] as? [String: Any])?["id"] as? String }
    /// `error.code` of an error answer.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

/// Runs `body` against a Lantern application over `store` (a fresh one when not given).
@discardableResult
func withTestApp<T: Sendable>(
    _ kind: StoreKind, over transport: Transport = .router, store given: TestStore? = nil, clock: TestClock = TestClock(),
    admission: Bool = false, llm: LLMConfiguration? = nil, claimFastPath: Bool = true,
    identityProvider: IdentityProviderConfiguration? = nil, connections: ConnectionLimits = ConnectionLimits(),
    _ body: @Sendable (TestApp) async throws -> T
) async throws -> T {
    let store: TestStore
    if let given { store = given } else { store = try await TestStore.make(kind) }
    do {
        let opened = try openStore(store.location, logger: quietLogger)
        // Tests expire cards explicitly; the background sweep must not race them.
        let metrics = LanternMetrics()
        let engine = LedgerEngine(
            store: opened.store, logger: quietLogger, expiryInterval: .seconds(3_600), metrics: metrics.factory,
            clock: { clock.date })
        let configuration = ServerConfiguration(
            jwtSecret: testSecret, database: store.location, seedDemo: false, admissionEnabled: admission, llm: llm,
            claimFastPath: claimFastPath, identityProvider: identityProvider, connections: connections)
        let app = try await buildApplication(
            configuration, store: opened, engine: engine, logger: quietLogger, metrics: metrics, clock: { clock.date })
        let tokens = try await TokenAuthority(secret: testSecret)
        let result = try await app.test(transport.setup) { client in
            try await body(TestApp(client: client, tokens: tokens, engine: engine, clock: clock))
        }
        if given == nil { try await store.remove() }
        return result
    } catch {
        if given == nil { try? await store.remove() }
        throw error
    }
}
