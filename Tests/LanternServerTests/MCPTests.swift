import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import LanternAssistant
import LanternStorage
import MCP
import Testing

@testable import LanternServer

@Suite("MCP", .serialized)
struct MCPTests {
    static let accept: HTTPFields = [.accept: "application/json, text/event-stream"]

    func status(_ app: TestApp, _ body: String, _ headers: HTTPFields) async throws -> HTTPTypes.HTTPResponse.Status {
        try await app.send(.post, "/mcp", as: "ann", headers: headers, body: body).status
    }

    func rpc(_ app: TestApp, _ body: String, as user: String = "ann", headers: HTTPFields = accept) async throws -> JSONValue {
        let reply = try await app.send(.post, "/mcp", as: user, headers: headers, body: body)
        return try JSONValue.parse(String(decoding: reply.body, as: UTF8.self))
    }

    @Test("initialize, tools/list and tools/call act as the token's user")
    func overHTTP() async throws {
        try await withTestApp(.sqlite) { app in
            #expect(try await app.createCampaign() == .created)
            let hello = try await rpc(app, #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
            #expect(hello["result"]?["protocolVersion"]?.string == "2025-03-26")
            #expect(hello["result"]?["capabilities"]?["tools"] != nil)
            let notified = try await app.send(
                .post, "/mcp", as: "ann", headers: Self.accept, body: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            #expect(notified.status == .accepted)
            let list = try await rpc(app, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
            let names = Set(list["result"]?["tools"]?.array?.compactMap { $0["name"]?.string } ?? [])
            #expect(names == ["find_stores", "get_menu", "my_cards", "claim_card", "quote_order", "place_order", "order_status", "cancel_order"])
            let claimed = try await rpc(app, #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"claim_card","arguments":{}}}"#)
            #expect(claimed["result"]?["isError"] == .bool(false))
            let card = try #require(claimed["result"]?["structuredContent"]?["card"]?["id"]?.string)
            #expect(card == "spring:ann:0")
            let again = try await rpc(app, #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"claim_card","arguments":{}}}"#)
            #expect(again["result"]?["structuredContent"]?["card"]?["id"]?.string == card)
            let cards = try await rpc(app, #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"my_cards","arguments":{}}}"#, as: "bob")
            #expect(cards["result"]?["structuredContent"]?["cards"]?.array?.isEmpty == true)
            let unknown = try await rpc(app, #"{"jsonrpc":"2.0","id":6,"method":"resources/list"}"#)
            #expect(unknown["error"]?["code"]?.int == -32601)
            let broken = try await rpc(app, "{nope")
            #expect(broken["error"]?["code"]?.int == -32700)
            #expect(try await app.send(.post, "/mcp", body: #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).status == .unauthorized)
        }
    }

    @Test("The SDK's rules: version negotiation, no batches, the version header, Accept, and another site's Origin refused")
    func protocolRules() async throws {
        try await withTestApp(.sqlite) { (app: TestApp) async throws in
            let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
            #expect(try await rpc(app, initialize)["result"]?["protocolVersion"]?.string == "2025-11-25")
            let ping = #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#
            #expect(try await status(app, ping, Self.accept) == .ok)
            // JSON-RPC batches were dropped from MCP in 2025-06-18.
            #expect(try await status(app, "[" + ping + "]", Self.accept) == .badRequest)
            var version = Self.accept
            version[HTTPField.Name("MCP-Protocol-Version")!] = "2025-06-18"
            #expect(try await status(app, ping, version) == .ok)
            version[HTTPField.Name("MCP-Protocol-Version")!] = "1999-01-01"
            #expect(try await status(app, ping, version) == .badRequest)
            #expect(try await status(app, ping, [:]) == .notAcceptable)
            var evil = Self.accept
            evil[.origin] = "https://evil.example"
            #expect(try await status(app, ping, evil) == .forbidden)
        }
        // A page of this server itself (Origin naming the Host it asked) may; a client with no Origin may.
        let own = MCP.HTTPRequest(method: "POST", headers: ["Origin": "http://lantern.example:8080", "Host": "lantern.example:8080"])
        let context = HTTPValidationContext(httpMethod: "POST", isInitializationRequest: false)
        #expect(SameOriginValidator().validate(own, context: context) == nil)
        #expect(SameOriginValidator().validate(MCP.HTTPRequest(method: "POST"), context: context) == nil)
        let other = MCP.HTTPRequest(method: "POST", headers: ["Origin": "http://lantern.example.evil", "Host": "lantern.example"])
        #expect(SameOriginValidator().validate(other, context: context)?.statusCode == 403)
    }

    @Test("place_order needs an idempotency key and replays with it; drinks and toppings go by either menu name")
    func placeOrderKeyAndNames() async throws {
        try await withTestApp(.sqlite) { app in
            let order = #""items":[{"drink":"芋泥奶茶","toppings":["布丁"]}],"brand":"Moon Pearl","address":{"lat":31.2304,"lng":121.4737,"text":"Square"}"#
            func place(_ id: Int, key: String?) async throws -> JSONValue {
                let keyed = key.map { #","idempotency_key":"\#($0)""# } ?? ""
                return try await rpc(app, #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"place_order","arguments":{\#(order)\#(keyed)}}}"#)
            }
            let unkeyed = try await place(1, key: nil)
            #expect(unkeyed["result"]?["isError"] == .bool(true))
            #expect(unkeyed["result"]?["structuredContent"]?["error"]?["code"]?.string == "missing_field", "\(unkeyed.text)")
            #expect(try await app.orderCount("ann") == 0)
            let placed = try await place(2, key: "k-1")
            let item = placed["result"]?["structuredContent"]?["order"]?["items"]?.array?.first
            #expect(item?["drink"]?.string == "taro milk tea", "\(placed.text)")
            #expect(item?["toppings"]?.array?.first?.string == "pudding")
            let retried = try await place(3, key: "k-1")
            #expect(retried["result"]?["structuredContent"]?["order"]?["id"] == placed["result"]?["structuredContent"]?["order"]?["id"], "\(retried.text)")
            #expect(try await app.orderCount("ann") == 1)
        }
    }

    @Test("lantern mcp's stdio bridge carries lines to a live server and back")
    func stdioBridge() async throws {
        let store = try await TestStore.make(.sqlite)
        let opened = try openStore(store.location, logger: quietLogger)
        // The demo shops keep Shanghai hours; the test's clock stands at 10:40 there.
        let clock = TestClock()
        let engine = LedgerEngine(store: opened.store, logger: quietLogger, clock: { clock.date })
        let app = try await buildApplication(
            ServerConfiguration(host: "127.0.0.1", port: 0, jwtSecret: testSecret, database: store.location, seedDemo: true, admissionEnabled: false),
            store: opened, engine: engine, logger: quietLogger, clock: { clock.date })
        let token = try await TokenAuthority(secret: testSecret).mint(Identity(userID: "ann", role: .user))
        // Its own HTTP client, shut down before the server, so no idle connection holds the server's drain.
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .milliseconds(500))))
        try await app.test(.live) { client in
            defer { _ = http.shutdown() }
            let bridge = MCPStdioBridge(serverURL: "http://127.0.0.1:\(client.port!)", token: token, client: http)
            let list = try JSONValue.parse(try #require(await bridge.forward(#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#)))
            #expect(list["id"]?.string == "a")
            #expect(list["result"]?["tools"]?.array?.count == AssistantTools.definitions.count)
            #expect(await bridge.forward(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#) == nil)
            let call = #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"find_stores","arguments":{"lat":31.2304,"lng":121.4737,"limit":3}}}"#
            let stores = try JSONValue.parse(try #require(await bridge.forward(call)))
            #expect(stores["result"]?["structuredContent"]?["stores"]?.array?.count == 3)
            let down = MCPStdioBridge(serverURL: "http://127.0.0.1:1", token: token, client: http)
            let failed = try JSONValue.parse(try #require(await down.forward(#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#)))
            #expect(failed["error"]?["code"]?.int == -32603)
        }
        try await store.remove()
    }
}
