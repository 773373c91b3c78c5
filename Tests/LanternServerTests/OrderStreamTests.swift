import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import LanternStorage
import NIOCore
import NIOHTTP1
import Testing

@testable import LanternServer

@Suite("Live order tracking")
struct OrderStreamTests {
    /// A server on a fresh store with no riders. The demo city's shops keep Shanghai hours: the
    /// test's clock stands at 10:40 there, so the tests do not depend on when they run.
    static func liveApp() async throws -> (TestStore, some ApplicationProtocol) {
        let store = try await TestStore.make(.sqlite)
        let opened = try openStore(store.location, logger: quietLogger)
        let clock = TestClock()
        let engine = LedgerEngine(store: opened.store, logger: quietLogger, clock: { clock.date })
        let app = try await buildApplication(
            ServerConfiguration(
                host: "127.0.0.1", port: 0, jwtSecret: testSecret, database: store.location, seedDemo: false,
                admissionEnabled: false, dispatch: DispatchConfiguration(riders: 0)),
            store: opened, engine: engine, logger: quietLogger, clock: { clock.date })
        return (store, app)
    }

    @Test(
        "GET /v1/me/orders/events streams the caller's order changes, only theirs, and ends at shutdown (with no riders configured)",
        .timeLimit(.minutes(1)))
    func stream() async throws {
        let (store, app) = try await Self.liveApp()
        let tokens = try await TokenAuthority(secret: testSecret)
        let ann = try await tokens.mint(Identity(userID: "ann", role: .user))
        let bob = try await tokens.mint(Identity(userID: "bob", role: .user))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        // The stream is still open when the server shuts down: shutdown must end it.
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            func post(_ path: String, token: String, body: String) async throws -> String {
                var request = HTTPClientRequest(url: base + path)
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "Idempotency-Key", value: UUID().uuidString)
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await http.execute(request, timeout: .seconds(10))
                return String(buffer: try await response.body.collect(upTo: 1 << 20))
            }
            var listen = HTTPClientRequest(url: base + "/v1/me/orders/events")
            listen.headers.add(name: "Authorization", value: "Bearer \(ann)")
            let response = try await http.execute(listen, timeout: .seconds(30))
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            var chunks = response.body.makeAsyncIterator()
            let hello = String(buffer: try #require(try await chunks.next()))
            #expect(hello.hasPrefix(": tracking orders of ann"))
            let order = #"{"items":[{"drink":"americano"}],"address":{"lat":31.2304,"lng":121.4737,"text":"Square"}}"#
            _ = try await post("/v1/orders", token: bob, body: order)
            let placed = try JSONSerialization.jsonObject(with: Data(try await post("/v1/orders", token: ann, body: order).utf8)) as? [String: Any]
            let id = try #require((placed?["order"] as? [String: Any])?["id"] as? String)
            var text = ""
            while !text.contains("\n\n"), let chunk = try await chunks.next() { text += String(buffer: chunk) }
            #expect(text.hasPrefix("event: order\ndata: {\"id\":\"\(id)\",\"state\":\"placed\""), "\(text)")
            _ = try await post("/v1/orders/\(id)/cancel", token: ann, body: "")
            text = ""
            while !text.contains("\n\n"), let chunk = try await chunks.next() { text += String(buffer: chunk) }
            #expect(text.contains(#""state":"cancelled""#), "\(text)")
        }
        try await http.shutdown()
        try await store.remove()
    }

    @Test("The counter's stream carries its own store's orders only, with a pseudonym for the customer", .timeLimit(.minutes(1)))
    func merchantStream() async throws {
        let (store, app) = try await Self.liveApp()
        let tokens = try await TokenAuthority(secret: testSecret)
        let ann = try await tokens.mint(Identity(userID: "ann", role: .user))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        try await app.test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            func send(_ method: NIOHTTP1.HTTPMethod, _ path: String, token: String, body: String = "") async throws -> (Int, String) {
                var request = HTTPClientRequest(url: base + path)
                request.method = method
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "Idempotency-Key", value: UUID().uuidString)
                if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
                let response = try await http.execute(request, timeout: .seconds(10))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let (_, listed) = try await send(.GET, "/v1/merchants?lat=31.2304&lng=121.4737&q=pearl%20milk%20tea&limit=2", token: ann)
            let stores = ((try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any])?["merchants"] as? [[String: Any]] ?? [])
                .compactMap { $0["id"] as? String }
            try #require(stores.count == 2)
            let shop = try await tokens.mint(Identity(userID: "shop", role: .merchant, merchantID: stores[0]))
            #expect(try await send(.GET, "/merchant/stream", token: ann).0 == 401)
            #expect(try await http.execute(HTTPClientRequest(url: base + "/merchant/stream?access_token=\(ann)"), timeout: .seconds(5)).status == .forbidden)
            let response = try await http.execute(HTTPClientRequest(url: base + "/merchant/stream?access_token=\(shop)"), timeout: .seconds(30))
            var chunks = response.body.makeAsyncIterator()
            #expect(String(buffer: try #require(try await chunks.next())).hasPrefix(": orders of \(stores[0])"))
            func order(at merchant: String) -> String {
                #"{"merchant_id":"\#(merchant)","items":[{"drink":"pearl milk tea"}],"address":{"lat":31.2304,"lng":121.4737,"text":"Square"}}"#
            }
            _ = try await send(.POST, "/v1/orders", token: ann, body: order(at: stores[1]))
            let (_, placed) = try await send(.POST, "/v1/orders", token: ann, body: order(at: stores[0]))
            let id = try #require(((try JSONSerialization.jsonObject(with: Data(placed.utf8)) as? [String: Any])?["order"] as? [String: Any])?["id"] as? String)
            var text = ""
            while !text.contains("\n\n"), let chunk = try await chunks.next() { text += String(buffer: chunk) }
            #expect(text.hasPrefix("event: order\ndata: {\"id\":\"\(id)\",\"state\":\"placed\""), "\(text)")
            #expect(text.contains(#""customer":"\#(tokens.pseudonym(of: "ann"))""#) && !text.contains("\"ann\""), "\(text)")
            #expect(try await send(.POST, "/v1/merchant/orders/\(id)/accept", token: shop).0 == 200)
            text = ""
            while !text.contains("\n\n"), let chunk = try await chunks.next() { text += String(buffer: chunk) }
            #expect(text.contains(#""state":"accepted""#), "\(text)")
            let (status, body) = try await send(.GET, "/v1/merchant/status", token: shop)
            #expect(status == 200 && body.contains(#""backlog_cups":1"#) && body.contains(#""limit_minutes":30"#), "\(body)")
        }
        try await http.shutdown()
        try await store.remove()
    }
}

