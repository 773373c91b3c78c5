import Foundation
import Testing

@testable import LanternLedger

/// A campaign open from t=0 to t=1000 s with cards expiring at t=2000 s.
func testCampaign(budget: Int64 = 10_000, value: Int64 = 2_500, cap: Int = 3) -> Campaign {
    Campaign(
        id: "spring", name: "Spring", budgetFen: budget, cardValueFen: value, maxCardsPerUser: cap,
        startsAt: Date(timeIntervalSince1970: 0), endsAt: Date(timeIntervalSince1970: 1000),
        cardsExpireAt: Date(timeIntervalSince1970: 2000))
}

let duringCampaign = Date(timeIntervalSince1970: 100)

func claimRequest(_ user: String, key: String? = nil, referral: String? = nil, digest: UInt64 = 1) -> ClaimRequest {
    ClaimRequest(
        campaign: "spring", user: user, referralCode: referral,
        claimKey: ClaimKey(key: key ?? "key-\(user)", digest: BodyDigest(high: digest, low: 0)))
}

func bookWithCampaign(_ campaign: Campaign = testCampaign()) -> LedgerBook {
    var book = LedgerBook()
    _ = book.createCampaign(campaign)
    return book
}

/// A claim's decision together with the events it journaled, for assertions.
enum Decided {
    case replay(ClaimOutcome, batch: UInt64)
    case decided(ClaimOutcome, [LedgerEvent])
}

extension LedgerBook {
    mutating func claim(_ request: ClaimRequest, now: Date, batch: UInt64) -> Decided {
        var journal: [LedgerEvent] = []
        switch claim(request, now: now, batch: batch, appendingTo: &journal) {
        case .replay(let outcome, let batch): return .replay(outcome, batch: batch)
        case .decided(let outcome): return .decided(outcome, journal)
        }
    }
}

func issuedCard(_ decision: Decided) -> Card? {
    if case .decided(.issued(let card, _), _) = decision { return card }
    return nil
}

func refusal(_ decision: Decided) -> LedgerError? {
    if case .decided(.refused(let error), _) = decision { return error }
    return nil
}

@Suite struct LedgerBookTests {
    @Test func issuesExactlyBudgetOverValueCards() {
        var book = bookWithCampaign(testCampaign(budget: 10_000, value: 2_500))
        var issued = 0
        var exhausted = 0
        for user in 0..<10 {
            let decision = book.claim(claimRequest("u\(user)"), now: duringCampaign, batch: 1)
            if issuedCard(decision) != nil { issued += 1 }
            if refusal(decision) == .budgetExhausted { exhausted += 1 }
        }
        #expect(issued == 4)
        #expect(exhausted == 6)
        let account = book.account("spring")!
        #expect(account.remainingFen == 0)
        #expect(account.outstandingFen == 10_000)
        #expect(book.invariantViolations(of: "spring").isEmpty)
    }

    @Test func oneWelcomeCardPerUser() {
        var book = bookWithCampaign()
        #expect(issuedCard(book.claim(claimRequest("alice", key: "a"), now: duringCampaign, batch: 1)) != nil)
        #expect(refusal(book.claim(claimRequest("alice", key: "b"), now: duringCampaign, batch: 1)) == .cardLimitReached)
        #expect(book.cards(of: "alice").count == 1)
    }

    @Test func claimsOutsideTheWindowAreRefused() {
        var book = bookWithCampaign()
        let early = book.claim(claimRequest("a"), now: Date(timeIntervalSince1970: -1), batch: 1)
        let late = book.claim(claimRequest("b"), now: Date(timeIntervalSince1970: 1000), batch: 1)
        #expect(refusal(early) == .campaignNotActive("spring"))
        #expect(refusal(late) == .campaignNotActive("spring"))
        #expect(refusal(book.claim(ClaimRequest(campaign: "nope", user: "c", referralCode: nil, claimKey: ClaimKey(key: "k", digest: BodyDigest(high: 0, low: 0))), now: duringCampaign, batch: 1)) == .campaignNotFound("nope"))
    }

    @Test func referralGivesTheReferrerOneBonusUpToTheCap() {
        var book = bookWithCampaign(testCampaign(budget: 100_000, value: 100, cap: 2))
        _ = book.claim(claimRequest("ref"), now: duringCampaign, batch: 1)
        let first = book.claim(claimRequest("new1", referral: "ref"), now: duringCampaign, batch: 1)
        guard case .decided(.issued(_, let bonus), let events) = first else {
            Issue.record("claim refused")
            return
        }
        #expect(bonus)
        #expect(events.count == 2)
        #expect(book.cards(of: "ref").map(\.kind) == [.welcome, .referral])
        // The referrer is at the cap now: the next referral still issues the new user's card, no bonus.
        let second = book.claim(claimRequest("new2", referral: "ref"), now: duringCampaign, batch: 1)
        guard case .decided(.issued(_, let secondBonus), _) = second else {
            Issue.record("claim refused")
            return
        }
        #expect(!secondBonus)
        #expect(book.cards(of: "ref").count == 2)
        #expect(book.invariantViolations(of: "spring").isEmpty)
    }

    @Test func referralByAStrangerOrSelfGrantsNothing() {
        var book = bookWithCampaign()
        #expect(refusal(book.claim(claimRequest("me", referral: "me"), now: duringCampaign, batch: 1)) == .selfReferral)
        #expect(book.cards(of: "me").isEmpty)
        // A referrer who never claimed is not a participant: no bonus card is created for them.
        let decision = book.claim(claimRequest("me", key: "k2", referral: "ghost"), now: duringCampaign, batch: 1)
        guard case .decided(.issued(_, let bonus), _) = decision else {
            Issue.record("claim refused")
            return
        }
        #expect(!bonus)
        #expect(book.cards(of: "ghost").isEmpty)
    }

    @Test func referralBonusNeedsBudgetForBothCards() {
        var book = bookWithCampaign(testCampaign(budget: 5_000, value: 2_500, cap: 3))
        _ = book.claim(claimRequest("ref"), now: duringCampaign, batch: 1)
        let decision = book.claim(claimRequest("new", referral: "ref"), now: duringCampaign, batch: 1)
        guard case .decided(.issued(_, let bonus), _) = decision else {
            Issue.record("claim refused")
            return
        }
        #expect(!bonus)
        #expect(book.account("spring")!.remainingFen == 0)
    }

    @Test func idempotentReplayAndKeyReuse() {
        var book = bookWithCampaign()
        let first = book.claim(claimRequest("u", key: "k", digest: 7), now: duringCampaign, batch: 5)
        let card = issuedCard(first)
        #expect(card != nil)
        guard case .replay(.issued(let replayed, _), let batch) = book.claim(claimRequest("u", key: "k", digest: 7), now: duringCampaign, batch: 6) else {
            Issue.record("expected a replay")
            return
        }
        #expect(replayed == card)
        #expect(batch == 5)
        #expect(refusal(book.claim(claimRequest("u", key: "k", digest: 8), now: duringCampaign, batch: 6)) == .idempotencyKeyReused)
        #expect(book.account("spring")!.cardsIssued == 1)
    }

    @Test func sameKeyFromAnotherUserIsIndependent() {
        var book = bookWithCampaign()
        #expect(issuedCard(book.claim(claimRequest("a", key: "same"), now: duringCampaign, batch: 1)) != nil)
        #expect(issuedCard(book.claim(claimRequest("b", key: "same"), now: duringCampaign, batch: 1)) != nil)
    }

    @Test func expiryReleasesOutstandingValue() {
        var book = bookWithCampaign()
        _ = book.claim(claimRequest("a"), now: duringCampaign, batch: 1)
        _ = book.claim(claimRequest("b"), now: duringCampaign, batch: 1)
        #expect(book.expireDue(now: Date(timeIntervalSince1970: 1999)).isEmpty)
        let events = book.expireDue(now: Date(timeIntervalSince1970: 2000))
        #expect(events.count == 1)
        let account = book.account("spring")!
        #expect(account.remainingFen == 10_000)
        #expect(account.outstandingFen == 0)
        #expect(book.cards(of: "a").map(\.state) == [.expired])
        #expect(book.invariantViolations(of: "spring").isEmpty)
        #expect(book.expireDue(now: Date(timeIntervalSince1970: 3000)).isEmpty)
    }

    @Test func extendingExpiryDelaysIt() {
        var book = bookWithCampaign()
        _ = book.claim(claimRequest("a"), now: duringCampaign, batch: 1)
        let extended = book.extendCampaign("spring", endsAt: nil, cardsExpireAt: Date(timeIntervalSince1970: 5000))
        #expect((try? extended.get())?.count == 1)
        #expect(book.expireDue(now: Date(timeIntervalSince1970: 2500)).isEmpty)
        #expect(book.cards(of: "a").first?.expiresAt == Date(timeIntervalSince1970: 5000))
        let shortened = book.extendCampaign("spring", endsAt: nil, cardsExpireAt: Date(timeIntervalSince1970: 4000))
        #expect(throws: LedgerError.self) { try shortened.get() }
    }

    @Test func invalidCampaignsAreRefused() {
        var book = LedgerBook()
        var bad = testCampaign()
        bad.cardValueFen = 0
        #expect(throws: LedgerError.self) { try book.createCampaign(bad).get() }
        bad = testCampaign()
        bad.id = "has space"
        #expect(throws: LedgerError.self) { try book.createCampaign(bad).get() }
        #expect(book.allAccounts.isEmpty)
        _ = book.createCampaign(testCampaign())
        #expect(throws: LedgerError.campaignExists("spring")) { try book.createCampaign(testCampaign()).get() }
    }

    @Test func replayOfTheJournalRebuildsTheSameBook() throws {
        var book = bookWithCampaign(testCampaign(budget: 1_000_000, value: 100, cap: 3))
        var journal: [(batch: UInt64, events: [LedgerEvent])] = [(1, [.campaignCreated(testCampaign(budget: 1_000_000, value: 100, cap: 3))])]
        for user in 0..<50 {
            let decision = book.claim(claimRequest("u\(user)", referral: user > 0 ? "u\(user / 2)" : nil), now: duringCampaign, batch: 2)
            if case .decided(_, let events) = decision { journal.append((2, events)) }
        }
        journal.append((3, book.expireDue(now: Date(timeIntervalSince1970: 2000))))
        let encoded = journal.map { (batch: $0.batch, bytes: JournalCodec.encode($0.events)) }
        let rebuilt = try LedgerBook.replaying(encoded.map { (batch: $0.batch, events: try JournalCodec.decode($0.bytes)) })
        let original = book.account("spring")!
        let copy = rebuilt.account("spring")!
        #expect(copy.remainingFen == original.remainingFen)
        #expect(copy.cardsIssued == original.cardsIssued)
        #expect(copy.cardsExpiredAt == original.cardsExpiredAt)
        for user in 0..<50 { #expect(rebuilt.cards(of: "u\(user)") == book.cards(of: "u\(user)")) }
        #expect(rebuilt.invariantViolations(of: "spring").isEmpty)
    }

    @Test func replayRejectsDuplicateAndOverspendingCards() {
        let campaign = testCampaign(budget: 200, value: 100, cap: 1)
        let card = { (owner: String) in
            LedgerEvent.cardIssued(CardIssue(campaign: "spring", owner: owner, ordinal: 0, kind: .welcome, valueFen: 100, issuedAtMs: 0, claim: nil, counterpart: nil))
        }
        #expect(throws: LedgerViolation.self) {
            _ = try LedgerBook.replaying([(batch: UInt64(1), events: [.campaignCreated(campaign), card("a"), card("a")])])
        }
        #expect(throws: LedgerViolation.self) {
            _ = try LedgerBook.replaying([(batch: UInt64(1), events: [.campaignCreated(campaign), card("a"), card("b"), card("c")])])
        }
    }
}

@Suite struct JournalCodecTests {
    @Test func roundTripsEveryEventKind() throws {
        let events: [LedgerEvent] = [
            .campaignCreated(testCampaign()),
            .campaignUpdated(testCampaign(budget: 10_000, value: 2_500, cap: 5)),
            .cardIssued(CardIssue(campaign: "spring", owner: "用户-1", ordinal: 0, kind: .welcome, valueFen: -3, issuedAtMs: 1_770_000_000_123, claim: ClaimKey(key: "k", digest: BodyDigest(high: .max, low: 42)), counterpart: "ref")),
            .cardIssued(CardIssue(campaign: "spring", owner: "ref", ordinal: 300, kind: .referral, valueFen: 2_500, issuedAtMs: 0, claim: nil, counterpart: nil)),
            .cardsExpired(campaign: "spring", at: Date(millisecondsSince1970: 1_770_000_000_000)),
        ]
        #expect(try JournalCodec.decode(JournalCodec.encode(events)) == events)
    }

    @Test func truncatedRecordsAreRejected() {
        let bytes = JournalCodec.encode([.campaignCreated(testCampaign())])
        #expect(throws: JournalCodec.DecodingError.self) { try JournalCodec.decode(bytes.dropLast(3)) }
        #expect(throws: JournalCodec.DecodingError.self) { try JournalCodec.decode([9]) }
    }
}
