import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import LanternLedger
import LanternStorage
import Testing

@testable import LanternServer

@Suite struct ClaimAPITests {
    @Test(arguments: StoreKind.available, Transport.allCases)
    func budgetExhaustionUnderConcurrentClaimsIssuesExactlyBudgetOverValue(_ kind: StoreKind, _ transport: Transport) async throws {
        try await withTestApp(kind, over: transport) { app in
            #expect(try await app.createCampaign(budget: 250 * 2_500, value: 2_500) == .created)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for user in 0..<1_200 {
                    // As a client does: a 503 (its answer deadline passed while 1,200 claims
                    // crowd a loaded machine) is retried with the same key until it is final.
                    group.addTask {
                        let key = UUID().uuidString
                        var status = HTTPResponse.Status.serviceUnavailable
                        for _ in 0..<50 where status == .serviceUnavailable {
                            status = try await app.claim("user\(user)", key: key).status
                        }
                        return status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(statuses[.created] == 250)
            #expect(statuses[.gone] == 950)
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "viewer").json
            #expect(campaign["cards_issued"] as? Int == 250)
            #expect(campaign["remaining_fen"] as? Int == 0)
            #expect(campaign["outstanding_fen"] as? Int == 250 * 2_500)
        }
    }

    @Test(arguments: StoreKind.available, Transport.allCases)
    func aUserRacingThemselvesGetsOneWelcomeCard(_ kind: StoreKind, _ transport: Transport) async throws {
        try await withTestApp(kind, over: transport) { app in
            _ = try await app.createCampaign()
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<100 { group.addTask { try await app.claim("racer").status } }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 99)
            let cards = try await app.send(.get, "/v1/me/cards", as: "racer").json["cards"] as? [[String: Any]]
            #expect(cards?.count == 1)
        }
    }

    @Test(arguments: StoreKind.available, Transport.allCases)
    func referralRules(_ kind: StoreKind, _ transport: Transport) async throws {
        try await withTestApp(kind, over: transport) { app in
            _ = try await app.createCampaign(cap: 2)
            #expect(try await app.claim("alice").status == .created)
            let bob = try await app.claim("bob", body: #"{"referral_code":"alice"}"#)
            #expect(bob.status == .created)
            #expect(bob.json["referral_bonus_issued"] as? Bool == true)
            let alice = try await app.send(.get, "/v1/me/cards", as: "alice").json["cards"] as? [[String: Any]]
            #expect(alice?.map { $0["kind"] as? String } == ["welcome", "referral"])
            // Alice is at her cap of 2: Carol still gets her card, Alice gets nothing more.
            let carol = try await app.claim("carol", body: #"{"referral_code":"alice"}"#)
            #expect(carol.status == .created)
            #expect(carol.json["referral_bonus_issued"] as? Bool == false)
            // Nobody refers themselves, and the refusal writes nothing.
            let selfish = try await app.claim("dave", body: #"{"referral_code":"dave"}"#)
            #expect(selfish.status == .unprocessableContent)
            #expect(selfish.errorCode == "self_referral")
            #expect((try await app.send(.get, "/v1/me/cards", as: "dave").json["cards"] as? [Any])?.isEmpty == true)
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "x").json
            #expect(campaign["cards_issued"] as? Int == 4)
        }
    }

    @Test(arguments: StoreKind.available, Transport.allCases)
    func idempotentReplayAndKeyReuse(_ kind: StoreKind, _ transport: Transport) async throws {
        try await withTestApp(kind, over: transport) { app in
            _ = try await app.createCampaign()
            let first = try await app.claim("u1", key: "key-1", body: "{}")
            #expect(first.status == .created)
            #expect(first.headers[.idempotentReplayed] == nil)
            let replay = try await app.claim("u1", key: "key-1", body: "{ }")
            #expect(replay.status == .created)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.cardID == first.cardID)
            let reused = try await app.claim("u1", key: "key-1", body: #"{"referral_code":"someone"}"#)
            #expect(reused.status == .unprocessableContent)
            #expect(reused.errorCode == "idempotency_key_reused")
            let missing = try await app.send(.post, "/v1/campaigns/spring/claims", as: "u1", body: "{}")
            #expect(missing.status == .badRequest)
            #expect(missing.errorCode == "missing_idempotency_key")
            // A refusal replays too.
            let refused = try await app.claim("u1", key: "key-2")
            #expect(refused.status == .conflict)
            let refusedAgain = try await app.claim("u1", key: "key-2")
            #expect(refusedAgain.status == .conflict)
            #expect(refusedAgain.headers[.idempotentReplayed] == "true")
        }
    }

    @Test(arguments: StoreKind.available)
    func expiryReleasesTheBudgetAndExtensionDelaysIt(_ kind: StoreKind) async throws {
        let clock = TestClock()
        try await withTestApp(kind, clock: clock) { app in
            _ = try await app.createCampaign(budget: 10_000, value: 2_500, endsIn: 600, expiresIn: 1_200)
            #expect(try await app.claim("a").status == .created)
            #expect(try await app.claim("b").status == .created)
            let later = ISO8601DateFormatter().string(from: clock.date.addingTimeInterval(2_400))
            let extended = try await app.send(
                .patch, "/v1/campaigns/spring", as: "ops", role: .admin, body: #"{"cards_expire_at":"\#(later)"}"#)
            #expect(extended.status == .ok)
            clock.advance(by: 1_800)
            #expect(try await app.engine.expireDue() == 0)
            clock.advance(by: 1_000)
            #expect(try await app.engine.expireDue() == 1)
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "x").json
            #expect(campaign["remaining_fen"] as? Int == 10_000)
            #expect(campaign["outstanding_fen"] as? Int == 0)
            let cards = try await app.send(.get, "/v1/me/cards", as: "a").json["cards"] as? [[String: Any]]
            #expect(cards?.first?["state"] as? String == "expired")
        }
    }

    @Test(arguments: StoreKind.available)
    func restartRebuildsTheLedgerFromTheStore(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        let clock = TestClock()
        let expected = try await withTestApp(kind, store: store, clock: clock) { app in
            _ = try await app.createCampaign(budget: 100_000, value: 2_500, cap: 2)
            let card = try await app.claim("alice", key: "k-alice").cardID
            _ = try await app.claim("bob", body: #"{"referral_code":"alice"}"#)
            return card
        }
        try await withTestApp(kind, store: store, clock: clock) { app in
            let campaign = try await app.send(.get, "/v1/campaigns/spring", as: "x").json
            #expect(campaign["cards_issued"] as? Int == 3)
            #expect(campaign["remaining_fen"] as? Int == 100_000 - 3 * 2_500)
            let replay = try await app.claim("alice", key: "k-alice")
            #expect(replay.status == .created)
            #expect(replay.cardID == expected)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(try await app.claim("bob").status == .conflict)
            #expect(try await app.claim("carol").status == .created)
        }
        try await store.remove()
    }
}

@Suite struct ClaimDigestTests {
    /// The first 128 bits of SHA-256 over these bytes, as the two halves of a digest.
    func expected(_ bytes: [UInt8]) -> BodyDigest {
        let hash = Array(SHA256.hash(data: bytes))
        func word(_ offset: Int) -> UInt64 { hash[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return BodyDigest(high: word(0), low: word(8))
    }

    // Journals keep these digests to tell a replay from a reused key across restarts, so the
    // bytes hashed never change: the campaign, a zero, then a one and the referral code if any.
    @Test func aClaimsDigestIsSHA256OfItsCampaignAndReferralCode() {
        #expect(ClaimRequest.digest(campaign: "spring", referralCode: nil) == expected(Array("spring".utf8) + [0]))
        #expect(
            ClaimRequest.digest(campaign: "spring", referralCode: "bob")
                == expected(Array("spring".utf8) + [0, 1] + Array("bob".utf8)))
        #expect(
            ClaimRequest.digest(campaign: "spring", referralCode: "bob")
                != ClaimRequest.digest(campaign: "spring", referralCode: nil))
    }
}
