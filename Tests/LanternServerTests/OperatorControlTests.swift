import Foundation
import HTTPTypes
import LanternAssistant
import Testing

@testable import LanternServer

/// Campaign pause, the audit log and `/metrics`.
@Suite struct OperatorControlTests {
    @Test(arguments: StoreKind.available)
    func aPausedCampaignRefusesClaimsUntilResumedAcrossARestartAndEveryControlIsAudited(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        defer { Task { try? await store.remove() } }
        try await withTestApp(kind, store: store) { app in
            #expect(try await app.createCampaign() == .created)
            #expect(try await app.send(.post, "/v1/campaigns/spring/pause", as: "mallory").status == .forbidden)
            let paused = try await app.send(.post, "/v1/campaigns/spring/pause", as: "ops", role: .admin)
            #expect(paused.status == .ok)
            #expect(paused.json["paused"] as? Bool == true)
            #expect(try await app.send(.post, "/v1/campaigns/nope/pause", as: "ops", role: .admin).status == .notFound)
            let refused = try await app.claim("alice")
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "campaign_paused")
            // The assistant's claim tool (here over MCP) is refused too.
            let tool = try await app.send(
                .post, "/mcp", as: "carol", headers: [.accept: "application/json, text/event-stream"],
                body: #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"claim_card","arguments":{"campaign":"spring"}}}"#)
            let answer = try JSONValue.parse(String(decoding: tool.body, as: UTF8.self))
            #expect(answer["result"]?["isError"] == .bool(true))
            #expect(answer["result"]?["structuredContent"]?["error"]?["code"]?.string == "campaign_paused")
        }
        try await withTestApp(kind, store: store) { app in
            // The pause survived the restart, and nothing was issued while paused.
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "alice")
            #expect(campaign.json["paused"] as? Bool == true)
            #expect(campaign.json["cards_issued"] as? Int == 0)
            #expect(try await app.claim("alice").errorCode == "campaign_paused")
            let resumed = try await app.send(.post, "/v1/campaigns/spring/resume", as: "ops2", role: .admin)
            #expect(resumed.json["paused"] as? Bool == false)
            #expect(try await app.claim("alice").status == .created)
            #expect(
                try await app.send(
                    .patch, "/v1/campaigns/spring", as: "ops", role: .admin, body: #"{"cards_expire_at":"2027-01-01T00:00:00Z"}"#
                ).status == .ok)
            #expect(try await app.send(.get, "/v1/admin/audit", as: "alice").status == .forbidden)
            #expect(try await app.send(.get, "/v1/admin/audit?limit=0", as: "ops", role: .admin).status == .badRequest)
            let audit = try await app.send(.get, "/v1/admin/audit", as: "ops", role: .admin)
            let entries = try #require(audit.json["entries"] as? [[String: Any]])
            #expect(entries.map { $0["action"] as? String } == ["campaign.extend", "campaign.resume", "campaign.pause", "campaign.create"])
            #expect(entries.map { $0["actor"] as? String } == ["ops", "ops2", "ops", "ops"])
            #expect(entries.allSatisfy { $0["target"] as? String == "spring" && $0["at"] is String })
            let extended = try #require(entries.first?["detail"] as? [String: Any])
            #expect(extended["cards_expire_at"] as? String == "2027-01-01T00:00:00Z")
            let created = try #require(entries.last?["detail"] as? [String: Any])
            #expect(created["budget_fen"] as? Int == 1_000_000)
        }
    }

    @Test func anAdmissionRateOutsideItsRangeIsRefusedAndChangesNothing() async throws {
        try await withTestApp(.sqlite) { app in
            _ = try await app.createCampaign()
            for rate in ["0", "-5", "1e300", "0.5"] {
                let reply = try await app.send(
                    .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":\#(rate)}"#)
                #expect(reply.status == .unprocessableContent)
                #expect(reply.errorCode == "invalid_field")
            }
            let audit = try await app.send(.get, "/v1/admin/audit", as: "ops", role: .admin)
            #expect((audit.json["entries"] as? [[String: Any]])?.map { $0["action"] as? String } == ["campaign.create"])
            let fixed = try await app.send(
                .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":90.5}"#)
            #expect(fixed.json["rate_per_minute"] as? Double == 90.5)
        }
    }

    @Test func metricsShowStoreBacklogsAndPausedStores() async throws {
        try await withTestApp(.sqlite) { app in
            func gauges() async throws -> Set<String> {
                let scraped = try await app.send(.get, "/metrics", as: "ops", role: .admin)
                return Set(String(decoding: scraped.body, as: UTF8.self).split(separator: "\n").map(String.init))
            }
            let store = try await app.nearbyStore()
            #expect(try await gauges().contains("lantern_store_backlog_cups 0.0"))
            #expect(try await app.order("ann", merchant: store).status == .created)
            #expect(try await app.order("bob", merchant: store).status == .created)
            let busy = try await gauges()
            #expect(busy.contains("lantern_store_backlog_cups 2.0"))
            #expect(busy.contains("lantern_stores_paused 0.0"))
            #expect(busy.contains { $0.hasPrefix("lantern_store_backlog_minutes_max ") && $0 != "lantern_store_backlog_minutes_max 0.0" })
            let paused = try await app.send(
                .put, "/v1/merchant/status", as: "staff", role: .merchant, merchant: store, body: #"{"status":"paused"}"#)
            #expect(paused.status == .ok)
            #expect(try await gauges().contains("lantern_stores_paused 1.0"))
        }
    }

    @Test func queuedUsersKeepTheirPlaceThroughAPause() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            _ = try await app.send(
                .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":60}"#)
            let tickets = try await (1...3).asyncMap { try #require(try await app.claim("u\($0)").json["ticket"] as? String) }
            let line = try #require(
                (try await app.send(.get, "/v1/admin/stats", as: "ops", role: .admin).json["campaigns"] as? [[String: Any]])?.first)
            #expect(line["waiting"] as? Int == 3)
            #expect(line["wait_s"] as? Int == 3)
            _ = try await app.send(.post, "/v1/campaigns/spring/pause", as: "ops", role: .admin)
            let paused = try #require(
                (try await app.send(.get, "/v1/admin/stats", as: "ops", role: .admin).json["campaigns"] as? [[String: Any]])?.first)
            #expect(paused["paused"] as? Bool == true)
            // Ten minutes of pause, the holders asking as they are told to.
            for _ in 0..<10 {
                clock.advance(by: 60)
                for (index, ticket) in tickets.prefix(2).enumerated() {
                    _ = try await app.send(.get, "/v1/queue/\(ticket)", as: "u\(index + 1)")
                }
            }
            let third = try await app.send(.get, "/v1/queue/\(tickets[2])", as: "u3")
            #expect(third.json["position"] as? Int == 3)
            #expect(third.json["paused"] as? Bool == true)
            _ = try await app.send(.post, "/v1/campaigns/spring/resume", as: "ops", role: .admin)
            clock.advance(by: 1.5)
            let moved = try await app.send(.get, "/v1/queue/\(tickets[2])", as: "u3")
            #expect(moved.json["position"] as? Int == 2)
            #expect(moved.json["paused"] as? Bool == false)
        }
    }

    @Test(arguments: Transport.allCases)
    func metricsCountRequestsByRouteAndStatusAndShowTheLedger(_ transport: Transport) async throws {
        try await withTestApp(.sqlite, over: transport) { app in
            _ = try await app.createCampaign()
            let first = try await app.claim("alice")
            #expect(first.status == .created)
            _ = try await app.claim("bob")
            #expect(try await app.claim("alice").status == .conflict)
            let ids = [first.headers[.requestID], try await app.send(.get, "/healthz").headers[.requestID]]
            #expect(ids.allSatisfy { ($0?.count ?? 0) >= 16 })
            #expect(ids[0] != ids[1])

            #expect(try await app.send(.get, "/metrics").status == .unauthorized)
            #expect(try await app.send(.get, "/metrics", as: "alice").status == .forbidden)
            let scraped = try await app.send(.get, "/metrics", as: "ops", role: .admin)
            #expect(scraped.status == .ok)
            let lines = Set(String(decoding: scraped.body, as: UTF8.self).split(separator: "\n").map(String.init))
            #expect(lines.contains(#"lantern_http_requests_total{route="/v1/campaigns/{id}/claims",method="POST",status="201"} 2"#))
            #expect(lines.contains(#"lantern_http_requests_total{route="/v1/campaigns/{id}/claims",method="POST",status="409"} 1"#))
            #expect(lines.contains(#"lantern_campaign_cards_issued{campaign="spring"} 2.0"#))
            #expect(lines.contains(#"lantern_campaign_outstanding_fen{campaign="spring"} 5000.0"#))
            #expect(lines.contains { $0.hasPrefix("lantern_ledger_commit_seconds_count ") && $0 != "lantern_ledger_commit_seconds_count 0" })
            #expect(lines.contains { $0.hasPrefix("lantern_ledger_batch_operations_count ") })
            #expect(lines.contains { $0.hasPrefix("lantern_admission_limit ") })
            #expect(lines.contains(#"lantern_orders{state="placed"} 0.0"#))
        }
    }
}

extension ClosedRange where Bound == Int {
    /// Maps in order, awaiting each element.
    func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for value in self { results.append(try await transform(value)) }
        return results
    }
}

@Suite struct JSONLogTests {
    @Test func aLineIsOneJSONObjectWhateverTheValuesHold() throws {
        let awkward = "say \"hi\"\\ \n\t\u{01} 珍珠奶茶"
        let line = JSONLogHandler.line([("message", awkward), ("hb.request.id", "abc")])
        #expect(!line.contains("\n"))
        let decoded = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(decoded == ["message": awkward, "hb.request.id": "abc"])
    }
}
