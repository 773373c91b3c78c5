import Foundation
import HTTPTypes
import Testing

@testable import LanternServer

@Suite("Operator dashboard data")
struct OperatorAPITests {
    @Test("The stats move with claims and orders, and only admins see them")
    func stats() async throws {
        try await withTestApp(.sqlite, admission: true) { app in
            #expect(try await app.createCampaign() == .created)
            let before = try await app.send(.get, "/v1/admin/stats", as: "ops", role: .admin).json
            #expect(((before["campaigns"] as? [[String: Any]])?.first?["cards_issued"] as? Int) == 0)
            let card = try #require(try await app.claim("ann").cardID)
            let store = try await app.nearbyStore()
            #expect(try await app.order("ann", merchant: store, card: card).status == .created)
            let after = try await app.send(.get, "/v1/admin/stats", as: "ops", role: .admin).json
            let campaign = try #require((after["campaigns"] as? [[String: Any]])?.first)
            #expect(campaign["cards_issued"] as? Int == 1)
            #expect((campaign["spent_fen"] as? Int ?? 0) > 0)
            #expect((after["orders"] as? [String: Any])?["placed"] as? Int == 1)
            #expect((after["top_drinks"] as? [[String: Any]])?.first?["drink"] as? String == "pearl milk tea")
            #expect((after["admission"] as? [String: Any])?["admitted"] as? Int == 1)
            let stores = try #require(after["stores"] as? [[String: Any]])
            #expect(stores.count == 300)
            #expect(stores.first { $0["id"] as? String == store }?["backlog_minutes"] as? Int ?? -1 >= 0)
            #expect(try await app.send(.get, "/v1/admin/stats", as: "ann").status == .forbidden)
        }
    }

    @Test("The page is served by Lantern itself; its stream needs an admin token")
    func pageAndStream() async throws {
        try await withTestApp(.sqlite) { app in
            let page = try await app.send(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains("/admin/stream") && !html.contains("http://") && !html.contains("https://"))
            let chat = try await app.send(.get, "/chat")
            #expect(chat.status == .ok)
            let chatHTML = String(decoding: chat.body, as: UTF8.self)
            #expect(chatHTML.contains("/v1/assistant/messages") && chatHTML.contains("/v1/queue/") && !chatHTML.contains("https://"))
            #expect(try await app.send(.get, "/admin/stream").status == .unauthorized)
            let user = try await app.token("ann")
            #expect(try await app.send(.get, "/admin/stream?access_token=\(user)").status == .forbidden)
        }
    }
}
