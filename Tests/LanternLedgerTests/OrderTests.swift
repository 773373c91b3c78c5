import Foundation
import LanternCatalog
import Testing

@testable import LanternLedger

/// A one-line draft for `user` costing `price` plus a 300 fen delivery fee.
func draft(_ id: String, user: String, card: String?, price: Int64 = 1_500, key: String? = nil, merchant: String = "m1")
    -> OrderDraft
{
    OrderDraft(
        id: id, user: user, merchantID: merchant,
        items: [
            PricedLine(line: OrderLine(drink: "pearl milk tea", size: .medium, sugar: 70, ice: .less), unitPriceFen: price)
        ],
        cardID: card, deliveryFeeFen: 300, address: DeliveryAddress(lat: 31.2, lng: 121.4, text: "1 Bund Road"),
        promisedAtMs: 0, idempotency: ClaimKey(key: key ?? "order-\(id)", digest: BodyDigest(high: 7, low: UInt64(price))))
}

/// A book with a campaign and a welcome card for each of `users`; returns it and every event so far.
func bookWithCards(_ users: [String], campaign: Campaign = testCampaign()) -> (LedgerBook, [LedgerEvent]) {
    var book = LedgerBook()
    var journal: [LedgerEvent] = []
    if case .success(let events) = book.createCampaign(campaign) { journal += events }
    for user in users { _ = book.claim(claimRequest(user), now: duringCampaign, batch: 1, appendingTo: &journal) }
    return (book, journal)
}

extension LedgerBook {
    mutating func place(_ draft: OrderDraft, now: Date = duringCampaign, journal: inout [LedgerEvent]) -> Result<Order, LedgerError> {
        switch placeOrder(draft, now: now, batch: 2, appendingTo: &journal) {
        case .decided(let result): return result
        case .replay(let order, _): return .success(order)
        }
    }
}

@Suite struct OrderTests {
    @Test func cardWorthMoreThanTheOrderPaysAllOfItAndReleasesTheRest() throws {
        var (book, journal) = bookWithCards(["ann"])
        let order = try book.place(draft("o1", user: "ann", card: "spring:ann:0", price: 1_500), journal: &journal).get()
        #expect(order.subtotalFen == 1_500)
        #expect(order.discountFen == 1_800)
        #expect(order.totalFen == 0)
        let account = book.account("spring")!
        #expect(account.spentFen == 1_800)
        #expect(account.outstandingFen == 0)
        #expect(account.remainingFen == 10_000 - 1_800)
        #expect(book.cards(of: "ann").first?.state == .redeemed)
        #expect(book.invariantViolations(of: "spring").isEmpty)
        #expect(book.orderViolations().isEmpty)
    }

    @Test func cardWorthLessThanTheOrderPaysItsValue() throws {
        var (book, journal) = bookWithCards(["ann"])
        let order = try book.place(draft("o1", user: "ann", card: "spring:ann:0", price: 3_600), journal: &journal).get()
        #expect(order.discountFen == 2_500)
        #expect(order.totalFen == 3_600 + 300 - 2_500)
        #expect(book.account("spring")!.spentFen == 2_500)
        #expect(book.account("spring")!.remainingFen == 10_000 - 2_500)
    }

    @Test func aCardPaysForOneOrderOnly() throws {
        var (book, journal) = bookWithCards(["ann"])
        _ = try book.place(draft("o1", user: "ann", card: "spring:ann:0"), journal: &journal).get()
        let second = book.place(draft("o2", user: "ann", card: "spring:ann:0"), journal: &journal)
        guard case .failure(.cardNotUsable) = second else {
            Issue.record("second order with the same card: \(second)")
            return
        }
        #expect(book.order("o2") == nil)
    }

    @Test func someoneElsesOrAMadeUpCardIsRefused() {
        var (book, journal) = bookWithCards(["ann", "bob"])
        #expect(book.place(draft("o1", user: "bob", card: "spring:ann:0"), journal: &journal) == .failure(.cardNotFound("spring:ann:0")))
        #expect(book.place(draft("o2", user: "bob", card: "spring:bob:7"), journal: &journal) == .failure(.cardNotFound("spring:bob:7")))
        #expect(book.place(draft("o3", user: "bob", card: "nonsense"), journal: &journal) == .failure(.cardNotFound("nonsense")))
        #expect(book.cards(of: "ann").first?.state == .active)
    }

    @Test func anExpiredCardIsRefused() {
        var (book, journal) = bookWithCards(["ann"])
        let afterExpiry = Date(timeIntervalSince1970: 2_500)
        guard case .failure(.cardNotUsable) = book.place(draft("o1", user: "ann", card: "spring:ann:0"), now: afterExpiry, journal: &journal) else {
            Issue.record("an expired card paid")
            return
        }
        journal += book.expireDue(now: afterExpiry)
        guard case .failure(.cardNotUsable) = book.place(draft("o2", user: "ann", card: "spring:ann:0"), now: afterExpiry, journal: &journal) else {
            Issue.record("an expired card paid")
            return
        }
    }

    @Test func theSameKeyReplaysAndAnotherBodyIsRefused() throws {
        var (book, journal) = bookWithCards(["ann"])
        let first = try book.place(draft("o1", user: "ann", card: "spring:ann:0", key: "k"), journal: &journal).get()
        var replayJournal: [LedgerEvent] = []
        let again = book.placeOrder(draft("o2", user: "ann", card: "spring:ann:0", key: "k"), now: duringCampaign, batch: 3, appendingTo: &replayJournal)
        #expect(again == .replay(first, batch: 2))
        #expect(replayJournal.isEmpty)
        let other = book.place(draft("o3", user: "ann", card: nil, price: 999, key: "k"), journal: &journal)
        #expect(other == .failure(.idempotencyKeyReused))
    }

    @Test func legalAndIllegalTransitions() throws {
        var (book, journal) = bookWithCards([])
        _ = try book.place(draft("o1", user: "ann", card: nil), journal: &journal).get()
        let now = duringCampaign
        #expect(book.changeOrder("o1", to: .ready, by: .merchant("m1"), now: now, appendingTo: &journal) == .failure(.illegalTransition(from: "placed", to: "ready")))
        #expect(book.changeOrder("o1", to: .delivered, by: .operations, now: now, appendingTo: &journal) == .failure(.illegalTransition(from: "placed", to: "delivered")))
        #expect(book.changeOrder("o1", to: .accepted, by: .user("ann"), now: now, appendingTo: &journal) == .failure(.illegalTransition(from: "placed", to: "accepted")))
        for (state, actor) in [(OrderState.accepted, OrderActor.merchant("m1")), (.ready, .merchant("m1")), (.pickedUp, .operations), (.delivered, .operations)] {
            #expect(try book.changeOrder("o1", to: state, by: actor, now: now, appendingTo: &journal).get().state == state)
        }
        #expect(book.changeOrder("o1", to: .cancelled, by: .user("ann"), now: now, appendingTo: &journal) == .failure(.illegalTransition(from: "delivered", to: "cancelled")))
    }

    @Test func aStoresBacklogCountsCupsPlacedOrAcceptedUntilTheyAreMadeOrDropped() throws {
        var (book, journal) = bookWithCards([])
        var big = draft("o1", user: "ann", card: nil)
        big.items[0].line.quantity = 3
        _ = try book.place(big, journal: &journal).get()
        _ = try book.place(draft("o2", user: "bob", card: nil), journal: &journal).get()
        _ = try book.place(draft("o3", user: "cat", card: nil, merchant: "m2"), journal: &journal).get()
        #expect(book.unmadeCups(atMerchant: "m1") == 4)
        _ = try book.changeOrder("o1", to: .accepted, by: .merchant("m1"), now: duringCampaign, appendingTo: &journal).get()
        #expect(book.unmadeCups(atMerchant: "m1") == 4)
        _ = try book.changeOrder("o1", to: .ready, by: .merchant("m1"), now: duringCampaign, appendingTo: &journal).get()
        _ = try book.changeOrder("o2", to: .cancelled, by: .user("bob"), now: duringCampaign, appendingTo: &journal).get()
        #expect(book.unmadeCups(atMerchant: "m1") == 0)
        #expect(book.unmadeCups(atMerchant: "m2") == 1)
        #expect(try LedgerBook.replaying([(batch: UInt64(1), events: journal)]).unmadeCups(atMerchant: "m2") == 1)
    }

    @Test func orderCountsByStateFollowEveryChangeAndSurviveAReplay() throws {
        var (book, journal) = bookWithCards([])
        for id in ["o1", "o2", "o3"] { _ = try book.place(draft(id, user: "ann", card: nil, key: id), journal: &journal).get() }
        _ = try book.changeOrder("o1", to: .accepted, by: .merchant("m1"), now: duringCampaign, appendingTo: &journal).get()
        _ = try book.changeOrder("o2", to: .cancelled, by: .user("ann"), now: duringCampaign, appendingTo: &journal).get()
        let counted = Dictionary(grouping: book.allOrders, by: \.state).mapValues(\.count)
        #expect(book.orderCounts.filter { $0.value > 0 } == counted)
        #expect(counted == [.placed: 1, .accepted: 1, .cancelled: 1])
        #expect(try LedgerBook.replaying([(batch: UInt64(1), events: journal)]).orderCounts.filter { $0.value > 0 } == counted)
    }

    @Test func anotherUsersOrAnotherStoresOrderIsNotFound() throws {
        var (book, journal) = bookWithCards([])
        _ = try book.place(draft("o1", user: "ann", card: nil), journal: &journal).get()
        #expect(book.changeOrder("o1", to: .cancelled, by: .user("bob"), now: duringCampaign, appendingTo: &journal) == .failure(.orderNotFound("o1")))
        #expect(book.changeOrder("o1", to: .accepted, by: .merchant("m2"), now: duringCampaign, appendingTo: &journal) == .failure(.orderNotFound("o1")))
        #expect(book.order("o1")?.state == .placed)
    }

    @Test func cancellingReturnsTheCardOnceEvenWhenAskedTwice() throws {
        var (book, journal) = bookWithCards(["ann"])
        _ = try book.place(draft("o1", user: "ann", card: "spring:ann:0"), journal: &journal).get()
        let before = journal.count
        let first = try book.changeOrder("o1", to: .cancelled, by: .user("ann"), now: duringCampaign, appendingTo: &journal).get()
        let second = try book.changeOrder("o1", to: .cancelled, by: .user("ann"), now: duringCampaign, appendingTo: &journal).get()
        #expect(first.settlement == .returned)
        #expect(second == first)
        #expect(journal.count == before + 1)
        let account = book.account("spring")!
        #expect(account.spentFen == 0)
        #expect(account.outstandingFen == 2_500)
        #expect(account.remainingFen == 7_500)
        #expect(book.cards(of: "ann").first?.state == .active)
        // The returned card pays for a new order.
        #expect(try book.place(draft("o2", user: "ann", card: "spring:ann:0"), journal: &journal).get().discountFen == 1_800)
    }

    @Test func rejectionAfterExpiryReleasesTheCardToTheBudget() throws {
        var (book, journal) = bookWithCards(["ann"])
        _ = try book.place(draft("o1", user: "ann", card: "spring:ann:0"), journal: &journal).get()
        let late = Date(timeIntervalSince1970: 2_100)
        journal += book.expireDue(now: late)
        let rejected = try book.changeOrder("o1", to: .rejected, by: .merchant("m1"), now: late, appendingTo: &journal).get()
        #expect(rejected.settlement == .released)
        let account = book.account("spring")!
        #expect(account.spentFen == 0)
        #expect(account.remainingFen == 10_000)
        #expect(book.cards(of: "ann").first?.state == .voided)
        #expect(book.invariantViolations(of: "spring").isEmpty)
    }

    @Test func aCancelledCardWhoseReleasedValueWasReissuedIsReleasedNotReturned() throws {
        // Budget 4,000, cards 2,500: ann's 400 fen order releases 2,100, which lets bob claim a
        // card; 1,100 remains, too little to take ann's card back whole.
        var (book, journal) = bookWithCards(["ann"], campaign: testCampaign(budget: 4_000, value: 2_500))
        _ = try book.place(draft("o1", user: "ann", card: "spring:ann:0", price: 100), journal: &journal).get()
        #expect(book.account("spring")!.remainingFen == 3_600)
        _ = book.claim(claimRequest("bob"), now: duringCampaign, batch: 3, appendingTo: &journal)
        #expect(book.account("spring")!.remainingFen == 1_100)
        let cancelled = try book.changeOrder("o1", to: .cancelled, by: .user("ann"), now: duringCampaign, appendingTo: &journal).get()
        #expect(cancelled.settlement == .released)
        let account = book.account("spring")!
        #expect(account.remainingFen == 1_500)
        #expect(account.spentFen == 0)
        #expect(book.cards(of: "ann").first?.state == .voided)
        #expect(book.invariantViolations(of: "spring").isEmpty)
        #expect(try LedgerBook.replaying([(batch: UInt64(1), events: journal)]).account("spring")!.remainingFen == 1_500)
    }

    @Test func theJournalRebuildsTheSameBookThroughTheCodec() throws {
        var (book, journal) = bookWithCards(["ann", "bob"])
        _ = try book.place(draft("o1", user: "ann", card: "spring:ann:0"), journal: &journal).get()
        _ = try book.place(draft("o2", user: "bob", card: "spring:bob:0", price: 4_000), journal: &journal).get()
        _ = try book.changeOrder("o2", to: .accepted, by: .merchant("m1"), now: duringCampaign, appendingTo: &journal).get()
        _ = try book.changeOrder("o1", to: .cancelled, by: .user("ann"), now: duringCampaign, appendingTo: &journal).get()
        let decoded = try JournalCodec.decode(JournalCodec.encode(journal))
        #expect(decoded == journal)
        let rebuilt = try LedgerBook.replaying([(batch: UInt64(1), events: decoded)])
        #expect(rebuilt.order("o1") == book.order("o1"))
        #expect(rebuilt.order("o2") == book.order("o2"))
        #expect(rebuilt.account("spring")!.spentFen == book.account("spring")!.spentFen)
        #expect(rebuilt.account("spring")!.remainingFen == book.account("spring")!.remainingFen)
        #expect(rebuilt.orderViolations().isEmpty)
    }

    @Test func aJournalThatRedeemsACardTwiceIsAViolation() throws {
        var (book, journal) = bookWithCards(["ann"])
        let order = try book.place(draft("o1", user: "ann", card: "spring:ann:0"), journal: &journal).get()
        var forged = order
        forged.draft.id = "o2"
        forged.draft.idempotency.key = "other"
        #expect(throws: LedgerViolation.self) { try LedgerBook.replaying([(batch: UInt64(1), events: journal + [.orderPlaced(forged)])]) }
    }
}
