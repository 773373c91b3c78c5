import Foundation
import HTTPTypes
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import Testing

@testable import LanternAssistant
@testable import LanternServer

/// The demo city's centre, where most stores are.
let centre = (lat: 31.2304, lng: 121.4737)

extension TestApp {
    /// The nearest open store selling pearl milk tea, from the API.
    func nearbyStore() async throws -> String {
        let reply = try await send(.get, "/v1/merchants?lat=\(centre.lat)&lng=\(centre.lng)&radius_m=8000&q=pearl%20milk%20tea&limit=5", as: "ann")
        let stores = reply.json["merchants"] as? [[String: Any]] ?? []
        return try #require(stores.first?["id"] as? String)
    }

    /// Places (or quotes) a pearl milk tea order at `merchant`.
    func order(
        _ user: String, merchant: String, card: String? = nil, key: String? = nil, drink: String = "pearl milk tea",
        quote: Bool = false
    ) async throws -> Reply {
        let cardField = card.map { #","card_id":"\#($0)""# } ?? ""
        let body = """
            {"merchant_id":"\(merchant)","items":[{"drink":"\(drink)","size":"large","sugar":70,"ice":"less","toppings":[],"quantity":1}],
             "address":{"lat":\(centre.lat + 0.01),"lng":\(centre.lng),"text":"People's Square 1"}\(cardField)}
            """
        return try await send(
            .post, quote ? "/v1/orders/quote" : "/v1/orders", as: user,
            headers: quote ? [:] : [.idempotencyKey: key ?? UUID().uuidString], body: body)
    }

    func campaignSpent() async throws -> Int64 {
        let reply = try await send(.get, "/v1/campaigns/spring", as: "ops", role: .admin)
        return (reply.json["spent_fen"] as? NSNumber)?.int64Value ?? -1
    }
}

extension Reply {
    var order: [String: Any] { json["order"] as? [String: Any] ?? [:] }
}

@Suite("Orders over HTTP", .serialized)
struct OrderAPITests {
    @Test("An address given as text alone is located; outside the area or unknown is a 422 that says which")
    func textAddresses() async throws {
        try await withTestApp(.sqlite) { app in
            func quote(_ address: String) async throws -> Reply {
                try await app.send(.post, "/v1/orders/quote", as: "ann", body: #"{"items":[{"drink":"珍珠奶茶"}],"address":\#(address)}"#)
            }
            let located = try await quote(#"{"text":"人民广场1号"}"#)
            #expect(located.status == .ok, "\(located.json)")
            let error = { (reply: Reply) in (reply.json["error"] as? [String: Any])?["code"] as? String }
            let mars = try await quote(#"{"text":"Mars Base 3"}"#)
            #expect(mars.status == .unprocessableContent && error(mars) == "address_not_found")
            let beijing = try await quote(#"{"text":"北京天安门广场"}"#)
            #expect(beijing.status == .unprocessableContent && error(beijing) == "address_outside_area")
            let half = try await quote(#"{"lat":31.23,"text":"人民广场1号"}"#)
            #expect(half.status == .unprocessableContent && error(half) == "invalid_field")
            let placed = try await app.send(
                .post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "typed-1"],
                body: #"{"items":[{"drink":"珍珠奶茶"}],"address":{"text":"静安寺"}}"#)
            let address = placed.order["address"] as? [String: Any]
            #expect(address?["lat"] as? Double == 31.2235 && address?["lng"] as? Double == 121.4453, "\(placed.json)")
        }
    }

    @Test("Quote and order: prices from the menu, the card pays, the ledger spends", arguments: StoreKind.available)
    func quoteAndOrder(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            #expect(try await app.createCampaign() == .created)
            let card = try #require(try await app.claim("ann").cardID)
            let store = try await app.nearbyStore()
            let quote = try await app.order("ann", merchant: store, card: card, quote: true)
            #expect(quote.status == .ok)
            let quoted = quote.json["quote"] as? [String: Any] ?? [:]
            let subtotal = (quoted["subtotal_fen"] as? NSNumber)?.int64Value ?? 0
            let fee = (quoted["delivery_fee_fen"] as? NSNumber)?.int64Value ?? 0
            #expect(subtotal > 0)
            #expect((quoted["discount_fen"] as? NSNumber)?.int64Value == min(2_500, subtotal + fee))
            let placed = try await app.order("ann", merchant: store, card: card)
            #expect(placed.status == .created)
            #expect(placed.order["state"] as? String == "placed")
            #expect((placed.order["total_fen"] as? NSNumber)?.int64Value == subtotal + fee - min(2_500, subtotal + fee))
            #expect(try await app.campaignSpent() == min(2_500, subtotal + fee))
            let cards = try await app.send(.get, "/v1/me/cards", as: "ann").json["cards"] as? [[String: Any]]
            #expect(cards?.first?["state"] as? String == "redeemed")
        }
    }

    @Test("Twenty concurrent orders with one card: exactly one is placed", arguments: StoreKind.available)
    func oneCardOneOrder(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            #expect(try await app.createCampaign() == .created)
            let card = try #require(try await app.claim("ann").cardID)
            let store = try await app.nearbyStore()
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let reply = try await app.order("ann", merchant: store, card: card)
                        return (reply.status, reply.errorCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == .created }.count == 1)
            #expect(statuses.filter { $0.1 == "card_not_usable" }.count == 19)
            let orders = try await app.send(.get, "/v1/me/orders", as: "ann").json["orders"] as? [[String: Any]]
            #expect(orders?.count == 1)
        }
    }

    @Test("Two racing cancels return the card once; the order is gone for everyone else", arguments: StoreKind.available)
    func cancelOnceAndIDOR(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            #expect(try await app.createCampaign() == .created)
            let card = try #require(try await app.claim("ann").cardID)
            let store = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: store, card: card).order["id"] as? String)
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "bob").status == .notFound)
            #expect(try await app.send(.post, "/v1/orders/\(id)/cancel", as: "bob").status == .notFound)
            async let first = app.send(.post, "/v1/orders/\(id)/cancel", as: "ann")
            async let second = app.send(.post, "/v1/orders/\(id)/cancel", as: "ann")
            let replies = try await [first, second]
            #expect(replies.allSatisfy { $0.status == .ok && $0.order["state"] as? String == "cancelled" })
            #expect(replies.allSatisfy { $0.order["card_settlement"] as? String == "returned" })
            #expect(try await app.campaignSpent() == 0)
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "ops", role: .admin).json
            #expect((campaign["outstanding_fen"] as? NSNumber)?.int64Value == 2_500)
            let cards = try await app.send(.get, "/v1/me/cards", as: "ann").json["cards"] as? [[String: Any]]
            #expect(cards?.first?["state"] as? String == "active")
        }
    }

    @Test("The store moves its own orders along; another store and illegal moves are refused", arguments: StoreKind.available)
    func merchantFlow(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            let store = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: store).order["id"] as? String)
            let other = "m-000299" == store ? "m-000298" : "m-000299"
            #expect(try await app.send(.post, "/v1/merchant/orders/\(id)/accept", as: "shop2", role: .merchant, merchant: other).status == .notFound)
            #expect(try await app.send(.post, "/v1/merchant/orders/\(id)/accept", as: "ann").status == .forbidden)
            let ready = try await app.send(.post, "/v1/merchant/orders/\(id)/ready", as: "shop", role: .merchant, merchant: store)
            #expect(ready.status == .conflict)
            #expect(ready.errorCode == "illegal_transition")
            for action in ["accept", "ready"] {
                let reply = try await app.send(.post, "/v1/merchant/orders/\(id)/\(action)", as: "shop", role: .merchant, merchant: store)
                #expect(reply.status == .ok)
            }
            let queue = try await app.send(.get, "/v1/merchant/orders", as: "shop", role: .merchant, merchant: store)
            #expect((queue.json["orders"] as? [[String: Any]])?.first?["state"] as? String == "ready")
            #expect(try await app.send(.post, "/v1/dispatch/orders/\(id)/pickup", as: "ops", role: .admin).status == .ok)
            #expect(try await app.send(.post, "/v1/orders/\(id)/cancel", as: "ann").status == .conflict)
            let delivered = try await app.send(.post, "/v1/dispatch/orders/\(id)/deliver", as: "ops", role: .admin)
            #expect(delivered.order["state"] as? String == "delivered")
        }
    }

    @Test("Bad orders are 4xx that name the item and write nothing", arguments: StoreKind.available)
    func badOrders(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            let store = try await app.nearbyStore()
            let unknown = try await app.order("ann", merchant: store, drink: "unicorn latte")
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.errorCode == "invalid_item")
            #expect((unknown.json["error"] as? [String: Any])?["message"] as? String == "items[0]: there is no drink 'unicorn latte'")
            let hotGrape = try await app.send(
                .post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "k1"],
                body: #"{"items":[{"drink":"cheese grape fruit tea","ice":"hot"}],"address":{"lat":31.24,"lng":121.47,"text":"x"}}"#)
            #expect(hotGrape.status == .unprocessableContent)
            #expect(hotGrape.errorCode == "invalid_item")
            let noKey = try await app.send(.post, "/v1/orders", as: "ann", body: "{}")
            #expect(noKey.status == .badRequest)
            let broken = try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "k2"], body: "{nope")
            #expect(broken.status == .badRequest)
            #expect(try await app.order("ann", merchant: "m-999999").status == .notFound)
            let notMine = try await app.order("ann", merchant: store, card: "spring:bob:0")
            #expect(notMine.errorCode == "card_not_found")
            #expect((try await app.send(.get, "/v1/me/orders", as: "ann").json["orders"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("An order placed without naming a store goes to one nearby; the same key replays it", arguments: StoreKind.available)
    func routedAndReplayed(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            let body = #"{"brand":"Moon Pearl","items":[{"drink":"taro milk tea"}],"address":{"lat":31.2304,"lng":121.4737,"text":"Square"}}"#
            let first = try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "same"], body: body)
            #expect(first.status == .created)
            let store = try #require(first.order["merchant_id"] as? String)
            let page = try await app.send(.get, "/v1/merchants/\(store)", as: "ann").json
            #expect(page["brand"] as? String == "Moon Pearl")
            let again = try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "same"], body: body)
            #expect(again.status == .ok)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(again.order["id"] as? String == first.order["id"] as? String)
            let changed = try await app.send(
                .post, "/v1/orders", as: "ann", headers: [.idempotencyKey: "same"], body: body.replacingOccurrences(of: "Square", with: "Park"))
            #expect(changed.errorCode == "idempotency_key_reused")
        }
    }

    @Test("A retried order paid with a card replays the order instead of finding the card spent", arguments: StoreKind.available)
    func paidOrderReplayed(kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            #expect(try await app.createCampaign() == .created)
            let card = try #require(try await app.claim("ann").cardID)
            let store = try await app.nearbyStore()
            let first = try await app.order("ann", merchant: store, card: card, key: "paid")
            #expect(first.status == .created)
            // The client lost the answer (a 503 during a database failover, say) and asks again.
            let again = try await app.order("ann", merchant: store, card: card, key: "paid")
            #expect(again.status == .ok)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(again.order["id"] as? String == first.order["id"] as? String)
            let orders = try await app.send(.get, "/v1/me/orders", as: "ann").json["orders"] as? [[String: Any]]
            #expect(orders?.count == 1)
        }
    }

    @Test("Orders and their cards survive a restart", arguments: StoreKind.available)
    func survivesRestart(kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        let clock = TestClock()
        let (id, merchant) = try await withTestApp(kind, store: store, clock: clock) { app in
            #expect(try await app.createCampaign() == .created)
            let card = try #require(try await app.claim("ann").cardID)
            let merchant = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: merchant, card: card).order["id"] as? String)
            #expect(try await app.send(.post, "/v1/merchant/orders/\(id)/reject", as: "shop", role: .merchant, merchant: merchant).status == .ok)
            return (id, merchant)
        }
        try await withTestApp(kind, store: store, clock: clock) { app in
            let order = try await app.send(.get, "/v1/orders/\(id)", as: "ann").order
            #expect(order["state"] as? String == "rejected")
            #expect(order["merchant_id"] as? String == merchant)
            #expect(order["card_settlement"] as? String == "returned")
            let cards = try await app.send(.get, "/v1/me/cards", as: "ann").json["cards"] as? [[String: Any]]
            #expect(cards?.first?["state"] as? String == "active")
            #expect(try await app.campaignSpent() == 0)
        }
        try await store.remove()
    }

    @Test("Nearby search: open stores by distance, filtered by brand or drink in either language")
    func nearbySearch() async throws {
        try await withTestApp(.sqlite) { app in
            let all = try await app.send(.get, "/v1/merchants?lat=31.2304&lng=121.4737&radius_m=5000&limit=30", as: "ann")
            let stores = all.json["merchants"] as? [[String: Any]] ?? []
            #expect(stores.count == 30)
            let distances = stores.compactMap { ($0["distance_m"] as? NSNumber)?.intValue }
            #expect(distances == distances.sorted())
            let chinese = try await app.send(.get, "/v1/merchants?lat=31.2304&lng=121.4737&q=%E8%B1%86%E8%A1%97", as: "ann")
            let brands = (chinese.json["merchants"] as? [[String: Any]] ?? []).compactMap { $0["brand"] as? String }
            #expect(!brands.isEmpty && brands.allSatisfy { $0 == "Bean Street" })
            let missing = try await app.send(.get, "/v1/merchants?lat=north", as: "ann")
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "invalid_query")
        }
    }
}

@Suite("Store capacity over HTTP", .serialized)
struct CapacityAPITests {
    @Test("A store fills up to its 30 minutes of work, pauses itself, and resumes once it has made enough")
    func autoPause() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let body = { (quantity: Int) in
                """
                {"merchant_id":"\(store)","items":[{"drink":"pearl milk tea","quantity":\(quantity)}],"address":{"lat":\(centre.lat),"lng":\(centre.lng),"text":"x"}}
                """
            }
            var placed: [String] = []
            var refusal: Reply?
            for _ in 0..<20 {
                let reply = try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: UUID().uuidString], body: body(20))
                if reply.status != .created {
                    refusal = reply
                    break
                }
                placed.append(try #require(reply.order["id"] as? String))
            }
            #expect(refusal?.errorCode == "store_busy", "\(String(describing: refusal?.json))")
            let page = try await app.send(.get, "/v1/merchants/\(store)", as: "ann").json
            let perHour = try #require(page["cups_per_hour"] as? Int)
            let backlog = try #require(page["backlog_cups"] as? Int)
            #expect(backlog * 60 <= 30 * perHour, "never past 30 minutes of work")
            for id in placed {
                for action in ["accept", "ready"] {
                    #expect(try await app.send(.post, "/v1/merchant/orders/\(id)/\(action)", as: "shop", role: .merchant, merchant: store).status == .ok)
                }
            }
            let after = try await app.send(.get, "/v1/merchants/\(store)", as: "ann").json
            #expect(after["backlog_cups"] as? Int == 0)
            #expect(after["paused"] as? Bool == false)
            #expect(try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: UUID().uuidString], body: body(1)).status == .created)
        }
    }

    @Test("What a store has run out of is refused by name, and comes back when restocked")
    func outOfStock() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let order = """
                {"merchant_id":"\(store)","items":[{"drink":"pearl milk tea","toppings":["pudding"]}],"address":{"lat":\(centre.lat),"lng":\(centre.lng),"text":"x"}}
                """
            let out = try await app.send(.put, "/v1/merchant/stock", as: "shop", role: .merchant, merchant: store, body: #"{"item":"pudding","available":false}"#)
            #expect(out.status == .ok)
            let refused = try await app.send(.post, "/v1/orders/quote", as: "ann", body: order)
            #expect(refused.errorCode == "out_of_stock")
            let message = (refused.json["error"] as? [String: Any])?["message"] as? String ?? ""
            let name = try #require(try await app.send(.get, "/v1/merchants/\(store)", as: "ann").json["name"] as? String)
            #expect(message.hasPrefix("items[0]: \(name) has run out of pudding; \(OrderDesk.alternativeMarker)"), "\(message)")
            #expect(try await app.send(.put, "/v1/merchant/stock", as: "shop", role: .merchant, merchant: store, body: #"{"item":"pudding","available":true}"#).status == .ok)
            #expect(try await app.send(.post, "/v1/orders/quote", as: "ann", body: order).status == .ok)
            #expect(try await app.send(.put, "/v1/merchant/stock", as: "shop", role: .merchant, merchant: store, body: #"{"item":"gold leaf","available":false}"#).status == .unprocessableContent)
        }
    }

    @Test("Pearls out takes pearl milk tea off the menu and out of quotes; stock takes Chinese names and ids; merchant actions are audited")
    func stockWithConsequences() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            func quote(_ drink: String) async throws -> Reply {
                try await app.send(.post, "/v1/orders/quote", as: "ann", body: """
                    {"merchant_id":"\(store)","items":[{"drink":"\(drink)"}],"address":{"lat":\(centre.lat),"lng":\(centre.lng),"text":"x"}}
                    """)
            }
            func stock(_ item: String, _ available: Bool) async throws -> Reply {
                try await app.send(.put, "/v1/merchant/stock", as: "shop", role: .merchant, merchant: store,
                                   body: #"{"item":"\#(item)","available":\#(available)}"#)
            }
            func available(_ drink: String) async throws -> Bool? {
                let menu = try await app.send(.get, "/v1/merchants/\(store)/menu", as: "ann").json["items"] as? [[String: Any]]
                return menu?.first { $0["drink"] as? String == drink }?["available"] as? Bool
            }
            #expect(try await available("pearl milk tea") == true)
            let out = try await stock("珍珠", false)
            #expect(out.status == .ok && out.json["item"] as? String == "pearls", "\(out.json)")
            #expect(try await available("pearl milk tea") == false)
            #expect(try await available("brown sugar pearl milk") == false)
            #expect(try await available("taro milk tea") == true)
            let status = try await app.send(.get, "/v1/merchant/status", as: "shop", role: .merchant, merchant: store)
            let drinks = status.json["drinks"] as? [[String: Any]] ?? []
            #expect(drinks.first { $0["id"] as? String == "pearl milk tea" }?["missing"] as? String == "pearls", "\(status.json)")
            #expect(drinks.first { $0["id"] as? String == "taro milk tea" }?["missing"] == nil)
            let refused = try await quote("珍珠奶茶")
            #expect(refused.errorCode == "out_of_stock", "\(refused.json)")
            #expect(try await quote("taro milk tea").status == .ok)
            #expect(try await stock("pearls", true).status == .ok)
            #expect(try await quote("pearl milk tea").status == .ok)
            // A drink by its Chinese name or its id.
            #expect(try await stock("芋泥奶茶", false).json["item"] as? String == "taro milk tea")
            #expect(try await quote("taro milk tea").errorCode == "out_of_stock")
            #expect(try await stock("Taro Milk Tea", true).status == .ok)
            #expect(try await stock("金箔", false).status == .unprocessableContent)
            #expect(try await app.send(.put, "/v1/merchant/status", as: "shop", role: .merchant, merchant: store, body: #"{"status":"paused"}"#).status == .ok)
            #expect(try await app.send(.put, "/v1/merchant/status", as: "shop", role: .merchant, merchant: store, body: #"{"status":"open"}"#).status == .ok)
            let audit = try await app.send(.get, "/v1/admin/audit", as: "ops", role: .admin).json["entries"] as? [[String: Any]] ?? []
            let actions = audit.filter { $0["actor"] as? String == "shop" }.compactMap { $0["action"] as? String }
            #expect(Set(actions) == ["merchant.stock", "merchant.pause", "merchant.resume"], "\(audit)")
            #expect(actions.filter { $0 == "merchant.stock" }.count == 4)
        }
    }

    @Test("A merchant's order list filters by state; a rejection says why, and the reason is audited")
    func merchantFilterAndRejectReason() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let first = try #require(try await app.order("ann", merchant: store).order["id"] as? String)
            let second = try #require(try await app.order("bob", merchant: store).order["id"] as? String)
            func act(_ id: String, _ action: String, body: String? = nil) async throws -> Reply {
                try await app.send(.post, "/v1/merchant/orders/\(id)/\(action)", as: "shop", role: .merchant, merchant: store, body: body)
            }
            #expect(try await act(first, "accept").status == .ok)
            func listed(_ query: String) async throws -> [String] {
                let reply = try await app.send(.get, "/v1/merchant/orders\(query)", as: "shop", role: .merchant, merchant: store)
                return (reply.json["orders"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await listed("?state=placed") == [second])
            #expect(try await listed("?state=accepted") == [first])
            #expect(Set(try await listed("?state=placed,accepted")) == [first, second])
            #expect(Set(try await listed("")) == [first, second])
            #expect(try await app.send(.get, "/v1/merchant/orders?state=lost", as: "shop", role: .merchant, merchant: store).status == .unprocessableContent)
            #expect(try await act(second, "reject", body: #"{"reason":"bored"}"#).status == .unprocessableContent)
            let rejected = try await act(second, "reject", body: #"{"reason":"too_busy"}"#)
            #expect(rejected.order["state"] as? String == "rejected", "\(rejected.json)")
            let audit = try await app.send(.get, "/v1/admin/audit", as: "ops", role: .admin).json["entries"] as? [[String: Any]] ?? []
            let entry = audit.first { $0["action"] as? String == "merchant.reject" }
            #expect(entry?["target"] as? String == second)
            #expect((entry?["detail"] as? [String: Any])?["reason"] as? String == "too_busy")
        }
    }

    @Test("A named store that is paused or out of an item is said so, with the nearest store of its brand that can take the order")
    func namedStoreAlternative() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let stores = DemoCity.stores(count: 300, seed: 2026)
            let named = try #require(stores.first { $0.id == store })
            #expect(try await app.send(.put, "/v1/merchant/status", as: "shop", role: .merchant, merchant: store, body: #"{"status":"paused"}"#).status == .ok)
            let refused = try await app.order("ann", merchant: store, quote: true)
            #expect(refused.errorCode == "store_paused")
            let message = try #require((refused.json["error"] as? [String: Any])?["message"] as? String)
            let marker = try #require(message.range(of: OrderDesk.alternativeMarker), "\(message)")
            let suggested = message[marker.upperBound...]
            let id = try #require(suggested.split(separator: "(").dropFirst().first?.split(separator: ")").first.map(String.init))
            let other = try #require(stores.first { $0.id == id })
            #expect(other.brand == named.brand && other.id != store)
            #expect(try await app.order("ann", merchant: id, quote: true).status == .ok)
            // The assistant says it in the customer's language.
            let chinese = Refusal.text(code: "store_paused", message: message, zh: true)
            #expect(chinese.contains("附近同品牌的 \(other.name) 现在可以接这一单。"), "\(chinese)")
        }
    }
}


@Suite("Store status")
struct StoreStatusTests {
    @Test("Reading a store's load writes nothing: the auto-pause state moves when its orders do")
    func readingWritesNothing() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            // A first order is taken whatever its size: 100 cups, past any store's 30 minutes of work.
            let line = #"{"drink":"pearl milk tea","quantity":20}"#
            let body = """
                {"merchant_id":"\(store)","items":[\(Array(repeating: line, count: 5).joined(separator: ","))],"address":{"lat":\(centre.lat),"lng":\(centre.lng),"text":"x"}}
                """
            let reply = try await app.send(.post, "/v1/orders", as: "ann", headers: [.idempotencyKey: UUID().uuidString], body: body)
            #expect(reply.status == .created, "\(reply.json)")
            // A board of its own, which no order change has touched.
            let board = MerchantBoard()
            let directory = MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026))
            let status = StoreService(engine: app.engine, directory: directory, board: board, clock: { app.clock.date })
            let shop = try #require(directory.store(id: store))
            for _ in 0..<3 { #expect(try status.load(of: shop).paused, "past 30 minutes of work, the rule says paused") }
            #expect(!board.isAutoPaused(store), "and reading it three times recorded nothing")
            try status.backlogChanged(at: store)
            #expect(board.isAutoPaused(store))
        }
    }
}
