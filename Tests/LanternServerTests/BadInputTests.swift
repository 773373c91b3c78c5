import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import LanternLedger
import Testing

@testable import LanternServer

@Suite struct BadInputTests {
    @Test(arguments: Transport.allCases)
    func malformedAndMistypedBodiesAreClear4xxAndWriteNothing(_ transport: Transport) async throws {
        try await withTestApp(.sqlite, over: transport) { app in
            let broken = try await app.send(.post, "/v1/campaigns", as: "ops", role: .admin, body: "{not json")
            #expect(broken.status == .badRequest)
            #expect(broken.errorCode == "malformed_json")
            let mistyped = try await app.send(
                .post, "/v1/campaigns", as: "ops", role: .admin, body: #"{"id":"x","budget_fen":"lots"}"#)
            #expect(mistyped.status == .unprocessableContent)
            #expect(mistyped.json["error"] != nil)
            let invalid = try await app.send(
                .post, "/v1/campaigns", as: "ops", role: .admin,
                body: #"{"id":"x","name":"x","budget_fen":100,"card_value_fen":500,"max_cards_per_user":1,"starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-02-01T00:00:00Z","cards_expire_at":"2026-03-01T00:00:00Z"}"#)
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.errorCode == "invalid_campaign")
            #expect(try app.engine.read { $0.allAccounts.isEmpty })
            _ = try await app.createCampaign()
            let badClaim = try await app.claim("u", body: #"{"referral_code":42}"#)
            #expect(badClaim.status == .unprocessableContent)
            let notJSON = try await app.claim("u", body: "[")
            #expect(notJSON.status == .badRequest)
            #expect(try app.engine.read { $0.cards(of: "u").isEmpty })
        }
    }

    @Test(arguments: Transport.allCases)
    func unknownCampaignAndRoute(_ transport: Transport) async throws {
        try await withTestApp(.sqlite, over: transport) { app in
            let claim = try await app.claim("u", campaign: "nope")
            #expect(claim.status == .notFound)
            #expect(claim.errorCode == "campaign_not_found")
            let route = try await app.send(.get, "/v1/nothing-here", as: "u")
            #expect(route.status == .notFound)
            #expect(route.errorCode == "not_found")
        }
    }

    @Test(arguments: Transport.allCases)
    func hugeBodiesAreRefused(_ transport: Transport) async throws {
        try await withTestApp(.sqlite, over: transport) { app in
            _ = try await app.createCampaign()
            let huge = #"{"referral_code":""# + String(repeating: "a", count: 200_000) + #""}"#
            let reply = try await app.claim("u", body: huge)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.errorCode == "body_too_large")
            #expect(try app.engine.read { $0.cards(of: "u").isEmpty })
        }
    }

    @Test(arguments: Transport.allCases)
    func missingForgedExpiredAndUnderprivilegedTokensAreRefused(_ transport: Transport) async throws {
        try await withTestApp(.sqlite, over: transport) { app in
            _ = try await app.createCampaign()
            let none = try await app.send(.get, "/v1/me/cards")
            #expect(none.status == .unauthorized)
            #expect(none.errorCode == "unauthorized")
            let forger = try await TokenAuthority(secret: "not-the-secret-but-long-enough-0123456789")
            let forged = try await forger.mint(Identity(userID: "u", role: .admin))
            let forgedReply = try await app.send(
                .post, "/v1/campaigns/spring/claims", headers: [.authorization: "Bearer \(forged)", .idempotencyKey: "k"])
            #expect(forgedReply.status == .unauthorized)
            let expired = try await app.tokens.mint(Identity(userID: "u", role: .user), lifetime: -60)
            let expiredReply = try await app.send(
                .get, "/v1/me/cards", headers: [.authorization: "Bearer \(expired)"])
            #expect(expiredReply.status == .unauthorized)
            let garbage = try await app.send(.get, "/v1/me/cards", headers: [.authorization: "Bearer abc.def.ghi"])
            #expect(garbage.status == .unauthorized)
            // A user cannot create campaigns; an admin cannot claim cards.
            let userCreate = try await app.send(.post, "/v1/campaigns", as: "u", body: "{}")
            #expect(userCreate.status == .forbidden)
            let adminClaim = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "ops", role: .admin, headers: [.idempotencyKey: "k"])
            #expect(adminClaim.status == .forbidden)
            #expect(try app.engine.read { $0.account("spring")!.cardsIssued } == 0)
        }
    }

    @Test func healthAndReadinessNeedNoToken() async throws {
        try await withTestApp(.sqlite) { (app: TestApp) async throws in
            #expect(try await app.send(.get, "/healthz").status == .ok)
            #expect(try await app.send(.get, "/readyz").status == .ok)
        }
    }
}
