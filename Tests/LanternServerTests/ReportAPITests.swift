import Foundation
import HTTPTypes
import Testing

@testable import LanternServer

@Suite("Campaign report over HTTP")
struct ReportAPITests {
    @Test("An admin reads what the campaign bought from the database, as JSON or CSV; nobody else does", arguments: StoreKind.available)
    func report(_ kind: StoreKind) async throws {
        try await withTestApp(kind) { app in
            _ = try await app.createCampaign()
            for user in ["ann", "bob", "test-rush1x0"] { #expect(try await app.claim(user).status == .created) }
            let store = try await app.nearbyStore()
            let card = "spring:ann:0"
            #expect(try await app.order("ann", merchant: store, card: card).status == .created)

            let reply = try await app.send(.get, "/v1/admin/campaigns/spring/report", as: "ops", role: .admin)
            #expect(reply.status == .ok)
            let funnel = reply.json["funnel"] as? [String: Any]
            #expect(funnel?["cards_issued"] as? Int == 2)
            #expect(funnel?["cards_ordered"] as? Int == 1)
            #expect(funnel?["cards_delivered"] as? Int == 0)
            let stores = (reply.json["breakdowns"] as? [String: Any])?["stores"] as? [[String: Any]]
            #expect((stores?.first?["key"] as? String)?.hasPrefix(store) == true)
            #expect(!String(decoding: reply.body, as: UTF8.self).contains("People's Square"))

            #expect(reply.json["test_users_left_out"] as? Int == 1)
            let withTest = try await app.send(.get, "/v1/admin/campaigns/spring/report?include_test=true", as: "ops", role: .admin)
            #expect((withTest.json["funnel"] as? [String: Any])?["cards_issued"] as? Int == 3)

            let csv = try await app.send(.get, "/v1/admin/campaigns/spring/report?format=csv", as: "ops", role: .admin)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(String(decoding: csv.body, as: UTF8.self).contains("funnel,cards_issued,2\r\n"))

            #expect(try await app.send(.get, "/v1/admin/campaigns/spring/report", as: "ann").status == .forbidden)
            #expect(try await app.send(.get, "/v1/admin/campaigns/spring/report?format=xml", as: "ops", role: .admin).status == .badRequest)
            #expect(try await app.send(.get, "/v1/admin/campaigns/autumn/report", as: "ops", role: .admin).status == .notFound)
        }
    }
}
