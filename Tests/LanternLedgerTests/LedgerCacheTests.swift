import Foundation
import Testing

@testable import LanternLedger

/// The book as a cache of a shared database: it issues only what its lease allows, takes in
/// the database's figures without going back in time, and undoes what the database refused.
@Suite struct LedgerCacheTests {
    func snapshot(_ campaign: Campaign = testCampaign(), remaining: Int64 = 10_000, elsewhere: Int64 = 10_000, expired: Date? = nil)
        -> CampaignSnapshot
    {
        CampaignSnapshot(
            campaign: campaign, remainingFen: remaining, outstandingFen: 10_000 - remaining, spentFen: 0,
            cardsIssued: Int((10_000 - remaining) / campaign.cardValueFen), cardsExpiredAt: expired,
            budgetElsewhereFen: elsewhere)
    }

    @Test func aNodeIssuesOnlyWhatItsLeaseAllowsAndIsToldToRetryWhileOthersHoldTheRest() {
        var book = LedgerBook.cache(of: [snapshot()], allowances: ["spring": 2_500], orders: [])
        guard case .decided(.issued, _) = book.claim(claimRequest("ann"), now: duringCampaign, batch: 1) else {
            Issue.record("the lease's one card was refused")
            return
        }
        guard case .decided(.refused(.budgetHeldElsewhere), []) = book.claim(claimRequest("bob"), now: duringCampaign, batch: 1)
        else {
            Issue.record("a node past its lease issued a card or called the budget gone")
            return
        }
        book.restore(snapshot(remaining: 0, elsewhere: 0))
        guard case .decided(.refused(.budgetExhausted), []) = book.claim(claimRequest("cai"), now: duringCampaign, batch: 1) else {
            Issue.record("with nothing held anywhere the budget is exhausted")
            return
        }
        // A retriable refusal is not remembered: bob's retry is decided afresh once budget arrives.
        book.grantAllowance(2_500, campaign: "spring")
        guard case .decided(.issued, _) = book.claim(claimRequest("bob"), now: duringCampaign, batch: 2) else {
            Issue.record("bob's retry was answered from a remembered refusal")
            return
        }
    }

    @Test func aRefusedCardIsUndoneAndItsUsersForgotten() throws {
        var book = LedgerBook.cache(of: [snapshot()], allowances: ["spring": 5_000], orders: [])
        var journal: [LedgerEvent] = []
        _ = book.claim(claimRequest("ann"), now: duringCampaign, batch: 1, appendingTo: &journal)
        let issue = try #require(journal.compactMap { if case .cardIssued(let issue) = $0 { issue } else { nil } }.first)
        #expect(book.account("spring")?.allowanceFen == 2_500)
        book.revert(issue)
        #expect(book.account("spring")?.allowanceFen == 5_000)
        #expect(book.cards(of: "ann").isEmpty)
        #expect(book.account("spring")?.issuedHereFen == 0)
    }

    @Test func aSnapshotReadBeforeThisNodesExpiryChangesNothing() {
        var book = LedgerBook.cache(of: [snapshot()], allowances: [:], orders: [])
        let expiredAt = Date(timeIntervalSince1970: 2_000)
        book.restore(snapshot(remaining: 10_000, elsewhere: 10_000, expired: expiredAt))
        book.restore(snapshot(remaining: 7_500, elsewhere: 7_500))
        #expect(book.account("spring")?.cardsExpiredAt == expiredAt)
        #expect(book.account("spring")?.remainingFen == 10_000)
        var extended = testCampaign()
        extended.endsAt = Date(timeIntervalSince1970: 1_500)
        book.restore(snapshot(extended, expired: expiredAt))
        #expect(book.account("spring")?.campaign.endsAt == extended.endsAt)
    }

    @Test func loadedRecordsKeepWhatThisNodeDecidedMeanwhile() {
        var book = LedgerBook.cache(of: [snapshot()], allowances: ["spring": 5_000], orders: [])
        _ = book.claim(claimRequest("ann"), now: duringCampaign, batch: 1)
        // Records read before ann's card committed say she has none: the card stays.
        book.cache(UserRecords(user: "ann", cards: [], orders: []))
        #expect(book.cards(of: "ann").count == 1)
        #expect(book.isLoaded("ann"))
        // Another node issued bob's card; this node learns it from his records.
        let other = CardIssue(
            campaign: "spring", owner: "bob", ordinal: 0, kind: .welcome, valueFen: 2_500, issuedAtMs: 0,
            claim: ClaimKey(key: "elsewhere", digest: BodyDigest(high: 9, low: 0)), counterpart: nil)
        book.cache(UserRecords(user: "bob", cards: [StoredCard(issue: other, state: .active)], orders: []))
        guard case .replay(.issued(let card, _), 0) = book.claim(
            claimRequest("bob", key: "elsewhere", digest: 9), now: duringCampaign, batch: 2)
        else {
            Issue.record("bob's card from another node was not replayed")
            return
        }
        #expect(card.id == "spring:bob:0")
    }

    @Test func theCacheForgetsUsersBeyondItsBound() {
        var book = LedgerBook.cache(of: [snapshot(testCampaign(budget: 10_000_000, value: 1))], allowances: ["spring": 1_000], orders: [])
        for index in 0..<500 { _ = book.claim(claimRequest("u\(index)"), now: duringCampaign, batch: 1) }
        #expect(book.cachedHolders == 500)
        book.trim(holdersTo: 100, ordersTo: 100)
        #expect(book.cachedHolders <= 100)
        #expect(book.cachedHolders >= 80)
    }
}
